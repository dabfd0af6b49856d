package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// bpfAsm assembles classic BPF with symbolic labels. Conditional jumps in
// classic BPF reach at most 255 instructions ahead; branch pairs a short
// test with an unconditional jump (which reaches anywhere) so that the
// generator never has to know how far a target is.
type bpfAsm struct {
	ops    []asmOp
	labels []int // label → index of the op it marks; -1 until marked
}

type asmLabel int

// next, as a jump target, is the instruction that follows.
const next asmLabel = -1

type asmOp struct {
	ins bpf.Instruction // a plain instruction, when not a jump
	// A conditional jump: to jt when A cond val holds, else to jf.
	cond   bpf.JumpTest
	val    uint32
	jt, jf asmLabel
	isJump bool
	// An unconditional jump.
	ja   asmLabel
	isJa bool
}

func (a *bpfAsm) label() asmLabel {
	a.labels = append(a.labels, -1)
	return asmLabel(len(a.labels) - 1)
}

func (a *bpfAsm) mark(l asmLabel) { a.labels[l] = len(a.ops) }

func (a *bpfAsm) emit(ins ...bpf.Instruction) {
	for _, i := range ins {
		a.ops = append(a.ops, asmOp{ins: i})
	}
}

// jump is a short conditional jump: its targets must lie within 255
// instructions.
func (a *bpfAsm) jump(cond bpf.JumpTest, val uint32, jt, jf asmLabel) {
	a.ops = append(a.ops, asmOp{cond: cond, val: val, jt: jt, jf: jf, isJump: true})
}

// goTo jumps to l unconditionally.
func (a *bpfAsm) goTo(l asmLabel) { a.ops = append(a.ops, asmOp{ja: l, isJa: true}) }

// branch jumps to l, however far, when A cond val holds.
func (a *bpfAsm) branch(cond bpf.JumpTest, val uint32, l asmLabel) {
	skip := a.label()
	a.jump(cond, val, next, skip)
	a.goTo(l)
	a.mark(skip)
}

// assemble resolves the labels.
func (a *bpfAsm) assemble() ([]bpf.Instruction, error) {
	out := make([]bpf.Instruction, len(a.ops))
	target := func(pc int, l asmLabel) (int, error) {
		if l == next {
			return 0, nil
		}
		at := a.labels[l]
		if at < 0 {
			return 0, fmt.Errorf("BPF label %d never marked", l)
		}
		if at <= pc {
			return 0, fmt.Errorf("BPF jump backwards at %d", pc)
		}
		return at - pc - 1, nil
	}
	for pc, op := range a.ops {
		switch {
		case op.isJump:
			t, err := target(pc, op.jt)
			if err != nil {
				return nil, err
			}
			f, err := target(pc, op.jf)
			if err != nil {
				return nil, err
			}
			if t > 255 || f > 255 {
				return nil, fmt.Errorf("BPF conditional jump at %d too far (%d, %d)", pc, t, f)
			}
			out[pc] = bpf.JumpIf{Cond: op.cond, Val: op.val, SkipTrue: uint8(t), SkipFalse: uint8(f)}
		case op.isJa:
			t, err := target(pc, op.ja)
			if err != nil {
				return nil, err
			}
			out[pc] = bpf.Jump{Skip: uint32(t)}
		default:
			out[pc] = op.ins
		}
	}
	// The kernel refuses programs longer than BPF_MAXINSNS.
	if len(out) > 4096 {
		return nil, fmt.Errorf("BPF program of %d instructions is longer than the kernel takes (4096)", len(out))
	}
	return out, nil
}

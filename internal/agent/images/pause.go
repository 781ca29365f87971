package images

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// PauseBinary returns a minimal static Linux executable for arch that does
// what a sandbox's pause process must do and nothing else: it sets SIGCHLD
// to SIG_IGN (orphans reparented to it are reaped by the kernel), makes
// SIGTERM and SIGINT call exit_group(0) (as PID 1 it would otherwise ignore
// them), and loops on pause(2). Hand-assembled so that the pause image is a
// few hundred bytes and needs no toolchain or registry.
func PauseBinary(arch string) ([]byte, error) {
	if arch != "amd64" {
		return nil, fmt.Errorf("no pause binary for %s", arch)
	}
	const (
		base     = 0x400000
		codeOff  = 64 + 56
		loopOff  = codeOff + 3*25
		handlOff = loopOff + 9
		actIgn   = 216
		actExit  = actIgn + 32
		size     = actExit + 32
	)
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	sigaction := func(sig byte, act uint32) []byte {
		var b []byte
		b = append(b, 0xBF, sig, 0, 0, 0)              // mov edi, sig
		b = append(append(b, 0xBE), le32(base+act)...) // mov esi, &act
		b = append(b, 0x31, 0xD2)                      // xor edx, edx (no old action)
		b = append(b, 0x41, 0xBA, 8, 0, 0, 0)          // mov r10d, 8 (sigset size)
		b = append(b, 0xB8, 13, 0, 0, 0, 0x0F, 0x05)   // rt_sigaction
		return b
	}
	var code []byte
	code = append(code, sigaction(17, actIgn)...)                   // SIGCHLD
	code = append(code, sigaction(15, actExit)...)                  // SIGTERM
	code = append(code, sigaction(2, actExit)...)                   // SIGINT
	code = append(code, 0xB8, 34, 0, 0, 0, 0x0F, 0x05, 0xEB, 0xF7)  // loop: pause; jmp loop
	code = append(code, 0x31, 0xFF, 0xB8, 231, 0, 0, 0, 0x0F, 0x05) // handler: exit_group(0)

	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: base + codeOff, Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 1,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	prog := elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
	}
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, hdr)
	_ = binary.Write(&buf, binary.LittleEndian, prog)
	buf.Write(code)
	if buf.Len() != handlOff+9 {
		return nil, fmt.Errorf("pause: code layout is off (%d bytes)", buf.Len())
	}
	for buf.Len() < actIgn {
		buf.WriteByte(0)
	}
	// struct kernel_sigaction {handler, flags, restorer, mask}
	// x86-64 refuses to deliver to a handler without SA_RESTORER; ours
	// never returns, so the restorer is the handler itself.
	const saRestorer = 0x04000000
	sa := func(handler, flags, restorer uint64) {
		_ = binary.Write(&buf, binary.LittleEndian, [4]uint64{handler, flags, restorer, 0})
	}
	sa(1, 0, 0) // SIG_IGN
	sa(base+handlOff, saRestorer, base+handlOff)
	return buf.Bytes(), nil
}

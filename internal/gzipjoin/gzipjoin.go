// Package gzipjoin writes one gzip stream made of deflate segments that
// were compressed apart. A response whose parts change at different times
// (the items of a large list) can then keep each part compressed and pay
// for compression only where something changed, while clients see a
// single ordinary gzip member.
package gzipjoin

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"
)

// Segment is data compressed on its own: deflate blocks that refer to
// nothing before them and end byte-aligned without a final block, so that
// segments may follow one another in one deflate stream.
type Segment struct {
	Deflate []byte
	// Size and CRC are those of the uncompressed data.
	Size int64
	CRC  uint32
	// shift multiplies a CRC by x^(8*Size): it appends this segment's CRC
	// to the CRC of what came before.
	shift uint32
}

var writers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// Compress compresses the concatenation of parts into a segment, at the
// speed-first level upstream API servers use for responses.
func Compress(parts ...[]byte) Segment {
	var buf bytes.Buffer
	fw := writers.Get().(*flate.Writer)
	fw.Reset(&buf)
	crc := uint32(0)
	var size int64
	for _, p := range parts {
		_, _ = fw.Write(p) // writes to a bytes.Buffer do not fail
		crc = crc32.Update(crc, crc32.IEEETable, p)
		size += int64(len(p))
	}
	// A sync flush ends the segment on a byte boundary with an empty
	// stored block and no final bit.
	_ = fw.Flush()
	fw.Reset(nil)
	writers.Put(fw)
	return Segment{Deflate: buf.Bytes(), Size: size, CRC: crc, shift: x8nModP(size)}
}

const (
	headerLen  = 10
	trailerLen = 8
)

// finalBlock is an empty fixed-Huffman block with the final bit set.
var finalBlock = []byte{0x03, 0x00}

// Len is the length of the gzip stream Write makes of segs.
func Len(segs []Segment) int64 {
	n := int64(headerLen + len(finalBlock) + trailerLen)
	for _, s := range segs {
		n += int64(len(s.Deflate))
	}
	return n
}

// Write writes segs, in order, as one gzip member.
func Write(w io.Writer, segs []Segment) error {
	// Magic, deflate, no flags, no time, no extra flags, unknown OS.
	if _, err := w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}); err != nil {
		return err
	}
	crc := uint32(0)
	var size int64
	for _, s := range segs {
		if _, err := w.Write(s.Deflate); err != nil {
			return err
		}
		crc = combine(crc, s)
		size += s.Size
	}
	if _, err := w.Write(finalBlock); err != nil {
		return err
	}
	var trailer [trailerLen]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(size)) // ISIZE is the size modulo 2^32
	_, err := w.Write(trailer[:])
	return err
}

package gzipjoin

import (
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
)

func join(t testing.TB, parts ...[]byte) []byte {
	segs := make([]Segment, len(parts))
	for i, p := range parts {
		segs[i] = Compress(p)
	}
	var buf bytes.Buffer
	if err := Write(&buf, segs); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != Len(segs) {
		t.Fatalf("Len = %d, wrote %d", Len(segs), buf.Len())
	}
	return buf.Bytes()
}

func gunzip(t testing.TB, z []byte) []byte {
	t.Helper()
	r := bytes.NewReader(z)
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	// One member: a reader that stops after the first sees everything.
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the member", r.Len())
	}
	return out
}

func noise(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestJoin(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(4)) + 'a' // compressible, with back-references
		}
		return b
	}
	cases := map[string][][]byte{
		"nothing":         nil,
		"one empty":       {{}},
		"one":             {[]byte("hello")},
		"empties around":  {{}, []byte("x"), {}},
		"many small":      {[]byte("{"), []byte(`"a":1`), []byte(","), []byte(`"b":2`), []byte("}")},
		"past the window": {random(70 << 10), random(40 << 10), random(1)},
		"repeats across":  {bytes.Repeat([]byte("abc"), 1000), bytes.Repeat([]byte("abc"), 1000)},
		"incompressible":  {noise(rng, 100<<10)},
	}
	for name, parts := range cases {
		t.Run(name, func(t *testing.T) {
			got := gunzip(t, join(t, parts...))
			if want := bytes.Join(parts, nil); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// TestGzipTool: the stream is one a standard tool reads and checks (CRC
// and length in the trailer).
func TestGzipTool(t *testing.T) {
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("no gzip tool")
	}
	parts := [][]byte{[]byte("first part "), bytes.Repeat([]byte("middle "), 5000), []byte("last")}
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = bytes.NewReader(join(t, parts...))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gzip -dc: %v: %s", err, out)
	}
	if !bytes.Equal(out, bytes.Join(parts, nil)) {
		t.Fatalf("gzip -dc gave %d bytes", len(out))
	}
}

func TestCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		a, b := noise(rng, rng.IntN(3000)), noise(rng, rng.IntN(3000))
		got := combine(crc32.ChecksumIEEE(a), Segment{CRC: crc32.ChecksumIEEE(b), shift: x8nModP(int64(len(b)))})
		if want := crc32.ChecksumIEEE(append(a, b...)); got != want {
			t.Fatalf("combine(%d, %d bytes) = %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

func FuzzJoin(f *testing.F) {
	f.Add([]byte("abc"), []byte("abcabc"), []byte(""))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		got := gunzip(t, join(t, a, b, c))
		if want := bytes.Join([][]byte{a, b, c}, nil); !bytes.Equal(got, want) {
			t.Fatalf("round trip lost data")
		}
	})
}

func BenchmarkCompress(b *testing.B) {
	p := bytes.Repeat([]byte(`{"metadata":{"name":"pod-00001","namespace":"bench"}},`), 2000)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Compress(p)
	}
}

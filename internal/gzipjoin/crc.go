package gzipjoin

// CRC-32 (IEEE) of a concatenation from the CRCs of its parts: appending
// n bytes multiplies the first CRC by x^(8n) modulo the CRC polynomial
// before adding the second. Polynomials are kept bit-reflected, as the
// CRC itself is (the top bit is x^0).

const reflectedPoly = 0xedb88320

// mulModP multiplies a and b modulo the CRC polynomial.
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ reflectedPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// powers[k] is x^(2^k) modulo the polynomial.
var powers = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = mulModP(p, p)
	}
	return t
}()

// x8nModP is x^(8n) modulo the polynomial.
func x8nModP(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; k++ {
		if n&1 != 0 {
			p = mulModP(powers[k&31], p)
		}
		n >>= 1
	}
	return p
}

// combine is the CRC of the data behind crc followed by s's data.
func combine(crc uint32, s Segment) uint32 {
	return mulModP(s.shift, crc) ^ s.CRC
}

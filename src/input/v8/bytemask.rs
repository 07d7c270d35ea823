//! Which bytes of a 16-byte window are one of a few given bytes, as a bit mask: the SIMD
//! step the section scan ([`super::scan`]) and the strings parser ([`super::strings`])
//! share. (The integer parser's block masks, which also classify digits, are its own.)

/// Bit j: `w[j]` is one of `set`.
#[inline(always)]
pub fn eq_any<const N: usize>(w: &[u8; 16], set: [u8; N]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of every x86_64 target; the load reads the window's 16
        // bytes (unaligned loads are allowed).
        unsafe {
            let v = _mm_loadu_si128(w.as_ptr() as *const __m128i);
            let mut hit = _mm_setzero_si128();
            for c in set {
                hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)));
            }
            _mm_movemask_epi8(hit) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut mask = 0u32;
        for (j, &b) in w.iter().enumerate() {
            mask |= (set.contains(&b) as u32) << j;
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_exactly_the_bytes_of_the_set() {
        let w: [u8; 16] = *b"a\"b\\c[d]e\nf\"ghij";
        assert_eq!(super::eq_any(&w, [b'"']), 1 << 1 | 1 << 11);
        assert_eq!(
            super::eq_any(&w, [b'"', b'\\', b'[', b']']),
            1 << 1 | 1 << 3 | 1 << 5 | 1 << 7 | 1 << 11
        );
        assert_eq!(super::eq_any(&w, [b'\n', b'z']), 1 << 9);
    }
}

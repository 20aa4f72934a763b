//! ggml tensor types (codes, block layouts) and their dequantization to `f32`,
//! operation for operation as ggml's reference `dequantize_row_*`
//! (ggml-quants.c), so that results are bit-identical to ggml's and gguf-py's.

use std::fmt;

use super::GgufError;

/// Elements per super-block of the k-quants (`QK_K` in ggml).
pub const QK_K: usize = 256;

/// A ggml tensor type, with the numeric codes of `ggml.h`. The types this
/// module dequantizes have their own variant; every other code is `Other`.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 0: `f32`.
    F32,
    /// 1: IEEE half.
    F16,
    /// 30: bfloat16.
    BF16,
    /// 2: blocks of 32, `f16` scale, 4-bit values offset by 8.
    Q4_0,
    /// 3: blocks of 32, `f16` scale and minimum, 4-bit values.
    Q4_1,
    /// 6: blocks of 32, `f16` scale, 5-bit values offset by 16.
    Q5_0,
    /// 7: blocks of 32, `f16` scale and minimum, 5-bit values.
    Q5_1,
    /// 8: blocks of 32, `f16` scale, `i8` values.
    Q8_0,
    /// 12: super-blocks of 256, eight 6-bit scales and minimums, 4-bit values.
    Q4_K,
    /// 13: super-blocks of 256, eight 6-bit scales and minimums, 5-bit values.
    Q5_K,
    /// 14: super-blocks of 256, sixteen `i8` scales, 6-bit values offset by 32.
    Q6_K,
    /// 15: super-blocks of 256, `f32` scale, `i8` values (plus block sums).
    Q8_K,
    /// Any other code (Q8_1, Q2_K, Q3_K, the IQ types, integer types, ...).
    Other(u32),
}

/// `(code, name, elements per block, bytes per block)` of the ggml types that
/// are not variants of [`GgmlType`] (ggml.h / gguf-py's `GGML_QUANT_SIZES`).
const OTHER_TYPES: &[(u32, &str, usize, usize)] = &[
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

impl GgmlType {
    /// The type of a ggml code.
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Self::F32,
            1 => Self::F16,
            30 => Self::BF16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            15 => Self::Q8_K,
            c => Self::Other(c),
        }
    }

    /// The ggml code.
    pub fn code(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::BF16 => 30,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q4_K => 12,
            Self::Q5_K => 13,
            Self::Q6_K => 14,
            Self::Q8_K => 15,
            Self::Other(c) => c,
        }
    }

    /// ggml's name of the type (`"Q4_K"`), `None` for a code ggml does not define.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
            Self::Q8_K => "Q8_K",
            Self::Other(c) => return OTHER_TYPES.iter().find(|t| t.0 == c).map(|t| t.1),
        })
    }

    /// `(elements per block, bytes per block)`; `None` for a code ggml does not define.
    pub fn block_layout(self) -> Option<(usize, usize)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q8_0 => (32, 34),
            Self::Q4_K => (QK_K, 144),
            Self::Q5_K => (QK_K, 176),
            Self::Q6_K => (QK_K, 210),
            Self::Q8_K => (QK_K, 292),
            Self::Other(c) => return OTHER_TYPES.iter().find(|t| t.0 == c).map(|t| (t.2, t.3)),
        })
    }

    /// Whether [`dequantize`] handles this type.
    pub fn can_dequantize(self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// Bytes that `n_elements` of this type occupy; `None` for an unknown type,
    /// a count that is not a whole number of blocks, or overflow.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let (block, size) = self.block_layout()?;
        let (block, size) = (block as u64, size as u64);
        if !n_elements.is_multiple_of(block) {
            return None;
        }
        (n_elements / block).checked_mul(size)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ggml type {}", self.code()),
        }
    }
}

/// Dequantizes `n_elements` values of type `ty` stored in `bytes`, exactly as
/// ggml's reference `dequantize_row_*` does (same operations in the same order,
/// no fused multiply-add, so results are bit-identical to gguf-py's numpy ones).
///
/// Errors: [`GgufError::Unsupported`] for a type outside the list in the module
/// docs, [`GgufError::Format`] when `n_elements` is not a whole number of
/// blocks or `bytes` is not exactly their size.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elements: usize) -> Result<Vec<f32>, GgufError> {
    let Some((block, size)) = ty.block_layout().filter(|_| ty.can_dequantize()) else {
        return Err(GgufError::Unsupported(format!("dequantization of {ty}")));
    };
    if !n_elements.is_multiple_of(block) {
        return Err(GgufError::Format(format!(
            "{n_elements} elements are not a whole number of {ty} blocks of {block}"
        )));
    }
    let expected = (n_elements / block).checked_mul(size);
    if expected != Some(bytes.len()) {
        return Err(GgufError::Format(format!(
            "size mismatch: {n_elements} {ty} elements take {} bytes, got {}",
            expected.map_or_else(|| "too many".to_owned(), |n| n.to_string()),
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(n_elements);
    let blocks = bytes.chunks_exact(size);
    match ty {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))),
        GgmlType::BF16 => out.extend(blocks.map(|b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))),
        GgmlType::Q4_0 => blocks.for_each(|b| block_q4_0(b, &mut out)),
        GgmlType::Q4_1 => blocks.for_each(|b| block_q4_1(b, &mut out)),
        GgmlType::Q5_0 => blocks.for_each(|b| block_q5_0(b, &mut out)),
        GgmlType::Q5_1 => blocks.for_each(|b| block_q5_1(b, &mut out)),
        GgmlType::Q8_0 => blocks.for_each(|b| block_q8_0(b, &mut out)),
        GgmlType::Q4_K => blocks.for_each(|b| block_q4_k(b, &mut out)),
        GgmlType::Q5_K => blocks.for_each(|b| block_q5_k(b, &mut out)),
        GgmlType::Q6_K => blocks.for_each(|b| block_q6_k(b, &mut out)),
        GgmlType::Q8_K => blocks.for_each(|b| block_q8_k(b, &mut out)),
        GgmlType::Other(_) => unreachable!("rejected above"),
    }
    Ok(out)
}

/// IEEE half to single precision (exact; NaN payloads kept, like ggml and numpy).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if man == 0 => sign,
        // Subnormal: man * 2^-24, exact in f32.
        0 => sign | (man as f32 * (1.0 / 16_777_216.0)).to_bits(),
        0x1f => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// bfloat16 to single precision (the top 16 bits of an `f32`).
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

fn half(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// `block_q4_0`: `d: f16`, `qs: [u8; 16]`; element `j` is the low nibble of
/// `qs[j]`, element `j + 16` the high one.
fn block_q4_0(b: &[u8], out: &mut Vec<f32>) {
    let d = half(b, 0);
    let qs = &b[2..18];
    let mut y = [0f32; 32];
    for j in 0..16 {
        y[j] = f32::from(i16::from(qs[j] & 0x0f) - 8) * d;
        y[j + 16] = f32::from(i16::from(qs[j] >> 4) - 8) * d;
    }
    out.extend_from_slice(&y);
}

/// `block_q4_1`: `d, m: f16`, `qs: [u8; 16]`.
fn block_q4_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qs = &b[4..20];
    let mut y = [0f32; 32];
    for j in 0..16 {
        y[j] = f32::from(qs[j] & 0x0f) * d + m;
        y[j + 16] = f32::from(qs[j] >> 4) * d + m;
    }
    out.extend_from_slice(&y);
}

/// The fifth bits of a Q5 block (`qh`, a little-endian `u32`) for elements `j` and `j + 16`.
fn q5_high(qh: u32, j: usize) -> (u8, u8) {
    ((((qh >> j) << 4) & 0x10) as u8, ((qh >> (j + 12)) & 0x10) as u8)
}

/// `block_q5_0`: `d: f16`, `qh: [u8; 4]`, `qs: [u8; 16]`.
fn block_q5_0(b: &[u8], out: &mut Vec<f32>) {
    let d = half(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    let mut y = [0f32; 32];
    for j in 0..16 {
        let (h0, h1) = q5_high(qh, j);
        y[j] = f32::from(i16::from((qs[j] & 0x0f) | h0) - 16) * d;
        y[j + 16] = f32::from(i16::from((qs[j] >> 4) | h1) - 16) * d;
    }
    out.extend_from_slice(&y);
}

/// `block_q5_1`: `d, m: f16`, `qh: [u8; 4]`, `qs: [u8; 16]`.
fn block_q5_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    let mut y = [0f32; 32];
    for j in 0..16 {
        let (h0, h1) = q5_high(qh, j);
        y[j] = f32::from((qs[j] & 0x0f) | h0) * d + m;
        y[j + 16] = f32::from((qs[j] >> 4) | h1) * d + m;
    }
    out.extend_from_slice(&y);
}

/// `block_q8_0`: `d: f16`, `qs: [i8; 32]`.
fn block_q8_0(b: &[u8], out: &mut Vec<f32>) {
    let d = half(b, 0);
    out.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
}

/// ggml's `get_scale_min_k4`: the `j`-th 6-bit scale and minimum of a Q4_K/Q5_K
/// super-block (`j < 4`: low 6 bits of bytes `j` and `j + 4`; else nibbles of
/// byte `j + 4` with the top two bits of bytes `j - 4` and `j`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `block_q4_K`: `d, dmin: f16`, `scales: [u8; 12]`, `qs: [u8; 128]`; each
/// 64 elements use 32 bytes of `qs`, low nibbles first, with two sub-block
/// scales.
fn block_q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, min) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (i, q) in qs.chunks_exact(32).enumerate() {
        let (sc, m) = scale_min_k4(2 * i, scales);
        let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
        let (sc, m) = scale_min_k4(2 * i + 1, scales);
        let (d2, m2) = (d * f32::from(sc), min * f32::from(m));
        out.extend(q.iter().map(|&q| d1 * f32::from(q & 0x0f) - m1));
        out.extend(q.iter().map(|&q| d2 * f32::from(q >> 4) - m2));
    }
}

/// `block_q5_K`: `d, dmin: f16`, `scales: [u8; 12]`, `qh: [u8; 32]`,
/// `qs: [u8; 128]`; as Q4_K, with the fifth bit of element `l` of sub-block
/// `s` in bit `s` of `qh[l]`.
fn block_q5_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, min) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for (i, ql) in qs.chunks_exact(32).enumerate() {
        let (u1, u2) = (1u8 << (2 * i), 2u8 << (2 * i));
        let (sc, m) = scale_min_k4(2 * i, scales);
        let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
        let (sc, m) = scale_min_k4(2 * i + 1, scales);
        let (d2, m2) = (d * f32::from(sc), min * f32::from(m));
        let high = |h: u8, u: u8| if h & u != 0 { 16 } else { 0 };
        out.extend(
            ql.iter()
                .zip(qh)
                .map(|(&q, &h)| d1 * f32::from((q & 0x0f) + high(h, u1)) - m1),
        );
        out.extend(
            ql.iter()
                .zip(qh)
                .map(|(&q, &h)| d2 * f32::from((q >> 4) + high(h, u2)) - m2),
        );
    }
}

/// `block_q6_K`: `ql: [u8; 128]`, `qh: [u8; 64]`, `scales: [i8; 16]`, `d: f16`;
/// per 128 elements, 64 bytes of `ql` (low nibbles) and 32 of `qh` (2 bits each).
fn block_q6_k(b: &[u8], out: &mut Vec<f32>) {
    let d = half(b, 208);
    let mut y = [0f32; QK_K];
    for n in 0..2 {
        let ql = &b[64 * n..64 * n + 64];
        let qh = &b[128 + 32 * n..128 + 32 * n + 32];
        let sc = &b[192 + 8 * n..192 + 8 * n + 8];
        let y = &mut y[128 * n..128 * n + 128];
        for l in 0..32 {
            let is = l / 16;
            let q = |low: u8, shift: u32| f32::from(((low | (((qh[l] >> shift) & 3) << 4)) as i8) - 32);
            let scale = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = scale(0) * q(ql[l] & 0x0f, 0);
            y[l + 32] = scale(2) * q(ql[l + 32] & 0x0f, 2);
            y[l + 64] = scale(4) * q(ql[l] >> 4, 4);
            y[l + 96] = scale(6) * q(ql[l + 32] >> 4, 6);
        }
    }
    out.extend_from_slice(&y);
}

/// `block_q8_K`: `d: f32`, `qs: [i8; 256]`, `bsums: [i16; 16]` (unused here).
fn block_q8_k(b: &[u8], out: &mut Vec<f32>) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    out.extend(b[4..4 + QK_K].iter().map(|&q| d * f32::from(q as i8)));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ONE_HALF: u16 = 0x3800; // 0.5 as f16
    const TWO: u16 = 0x4000;
    const ONE: u16 = 0x3c00;
    const MINUS_ONE: u16 = 0xbc00;
    const QUARTER: u16 = 0x3400;
    const MINUS_QUARTER: u16 = 0xb400;

    #[test]
    fn f16_conversion_matches_the_definition_for_all_65536_patterns() {
        for h in 0..=u16::MAX {
            let got = f16_to_f32(h);
            let sign = if h & 0x8000 != 0 { -1.0f64 } else { 1.0 };
            let (e, m) = (i32::from((h >> 10) & 0x1f), f64::from(h & 0x3ff));
            let want = match e {
                0 => sign * m * 2f64.powi(-24),
                31 if m == 0.0 => sign * f64::INFINITY,
                31 => {
                    assert!(got.is_nan(), "{h:#06x}");
                    assert_eq!(
                        got.to_bits() & 0x007f_ffff,
                        u32::from(h & 0x3ff) << 13,
                        "payload of {h:#06x}"
                    );
                    continue;
                }
                _ => sign * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
            };
            assert_eq!(f64::from(got), want, "{h:#06x}");
            assert_eq!(got.is_sign_negative(), h & 0x8000 != 0, "sign of {h:#06x}");
        }
        assert_eq!(f16_to_f32(ONE_HALF), 0.5);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
    }

    #[test]
    fn bf16_is_the_top_half_of_an_f32() {
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
        assert_eq!(bf16_to_f32(0x3e80), 0.25);
        let bytes = [0x80, 0x3f, 0x40, 0xc0];
        assert_eq!(dequantize(GgmlType::BF16, &bytes, 2).unwrap(), vec![1.0, -3.0]);
    }

    #[test]
    fn f32_and_f16_tensors_are_read_as_stored() {
        let bytes: Vec<u8> = [1.5f32, -2.0, 1e-30].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(dequantize(GgmlType::F32, &bytes, 3).unwrap(), vec![1.5, -2.0, 1e-30]);
        let bytes: Vec<u8> = [ONE_HALF, MINUS_ONE, 0x0001]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            dequantize(GgmlType::F16, &bytes, 3).unwrap(),
            vec![0.5, -1.0, 2f32.powi(-24)]
        );
    }

    fn f16(v: u16) -> [u8; 2] {
        v.to_le_bytes()
    }

    #[test]
    fn q8_0_is_d_times_q() {
        // Two blocks: d = 0.5 with q = -128..-97, d = -0.25 with q = 96..127.
        let mut bytes = f16(ONE_HALF).to_vec();
        bytes.extend((-128i8..-96).map(|q| q as u8));
        bytes.extend(f16(MINUS_QUARTER));
        bytes.extend((96i8..=127).map(|q| q as u8));
        let got = dequantize(GgmlType::Q8_0, &bytes, 64).unwrap();
        let want: Vec<f32> = (-128..-96)
            .map(|q| q as f32 * 0.5)
            .chain((96..128).map(|q| q as f32 * -0.25))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got[0], -64.0);
        assert_eq!(got[63], -31.75);
    }

    /// Packs 32 values of 4 bits as ggml does: element `j` in the low nibble of
    /// byte `j`, element `j + 16` in its high nibble.
    fn pack_nibbles(q: &[u8; 32]) -> [u8; 16] {
        std::array::from_fn(|j| (q[j] & 15) | ((q[j + 16] & 15) << 4))
    }

    /// The fifth bits of 32 values, bit `i` for element `i`, little-endian.
    fn pack_fifth_bits(q: &[u8; 32]) -> [u8; 4] {
        let qh = (0..32).fold(0u32, |qh, i| qh | (u32::from(q[i] >> 4) << i));
        qh.to_le_bytes()
    }

    #[test]
    fn q4_0_is_d_times_q_minus_8() {
        let q: [u8; 32] = std::array::from_fn(|i| ((i * 7 + 3) % 16) as u8);
        let mut bytes = f16(TWO).to_vec();
        bytes.extend(pack_nibbles(&q));
        let got = dequantize(GgmlType::Q4_0, &bytes, 32).unwrap();
        let want: Vec<f32> = q.iter().map(|&q| (f32::from(q) - 8.0) * 2.0).collect();
        assert_eq!(got, want);
        // By hand: element 0 is q = 3 → (3 - 8) * 2; element 16 is q = (16*7+3) % 16 = 3.
        assert_eq!((got[0], got[1], got[16]), (-10.0, 4.0, -10.0));
    }

    #[test]
    fn q4_1_is_d_times_q_plus_m() {
        let q: [u8; 32] = std::array::from_fn(|i| (i % 16) as u8 ^ if i >= 16 { 15 } else { 0 });
        let mut bytes = f16(ONE_HALF).to_vec();
        bytes.extend(f16(MINUS_ONE));
        bytes.extend(pack_nibbles(&q));
        let got = dequantize(GgmlType::Q4_1, &bytes, 32).unwrap();
        let want: Vec<f32> = q.iter().map(|&q| f32::from(q) * 0.5 - 1.0).collect();
        assert_eq!(got, want);
        assert_eq!((got[0], got[15], got[16], got[31]), (-1.0, 6.5, 6.5, -1.0));
    }

    #[test]
    fn q5_0_and_q5_1_take_the_fifth_bit_from_qh() {
        let q: [u8; 32] = std::array::from_fn(|i| ((i * 11 + 5) % 32) as u8);
        let mut bytes = f16(QUARTER).to_vec();
        bytes.extend(pack_fifth_bits(&q));
        bytes.extend(pack_nibbles(&q));
        let got = dequantize(GgmlType::Q5_0, &bytes, 32).unwrap();
        let want: Vec<f32> = q.iter().map(|&q| (f32::from(q) - 16.0) * 0.25).collect();
        assert_eq!(got, want);
        // Element 3: q = 38 % 32 = 6 → (6 - 16) / 4; element 20: q = 225 % 32 = 1.
        assert_eq!((got[3], got[20]), (-2.5, -3.75));

        let mut bytes = f16(ONE).to_vec();
        bytes.extend(f16(MINUS_QUARTER));
        bytes.extend(pack_fifth_bits(&q));
        bytes.extend(pack_nibbles(&q));
        let got = dequantize(GgmlType::Q5_1, &bytes, 32).unwrap();
        let want: Vec<f32> = q.iter().map(|&q| f32::from(q) - 0.25).collect();
        assert_eq!(got, want);
    }

    /// Packs eight 6-bit scales and minimums as ggml's `quantize_row_q4_K_ref` does.
    fn pack_scales_k4(sc: &[u8; 8], m: &[u8; 8]) -> [u8; 12] {
        let mut s = [0u8; 12];
        for j in 0..8 {
            if j < 4 {
                s[j] = sc[j];
                s[j + 4] = m[j];
            } else {
                s[j + 4] = (sc[j] & 0xf) | ((m[j] & 0xf) << 4);
                s[j - 4] |= (sc[j] >> 4) << 6;
                s[j] |= (m[j] >> 4) << 6;
            }
        }
        s
    }

    fn k_quant_fixture() -> ([u8; 8], [u8; 8], [u8; 256]) {
        let sc = [1, 63, 17, 32, 48, 5, 60, 33];
        let m = [0, 2, 63, 40, 16, 47, 1, 62];
        let q = std::array::from_fn(|i| ((i * 13 + i / 7) % 32) as u8);
        (sc, m, q)
    }

    #[test]
    fn q4_k_uses_six_bit_scales_and_minimums_per_32_elements() {
        let (sc, m, q) = k_quant_fixture();
        let q4: [u8; 256] = std::array::from_fn(|i| q[i] & 15);
        let mut bytes = f16(ONE_HALF).to_vec();
        bytes.extend(f16(QUARTER));
        bytes.extend(pack_scales_k4(&sc, &m));
        for j in (0..256).step_by(64) {
            bytes.extend((0..32).map(|l| q4[j + l] | (q4[j + l + 32] << 4)));
        }
        let got = dequantize(GgmlType::Q4_K, &bytes, 256).unwrap();
        let want: Vec<f32> = (0..256)
            .map(|i| 0.5 * f32::from(sc[i / 32]) * f32::from(q4[i]) - 0.25 * f32::from(m[i / 32]))
            .collect();
        assert_eq!(got, want);
        // Element 32 (sub-block 1: scale 63, min 2): q = (416 + 4) % 32 % 16 = 4.
        assert_eq!(got[32], 0.5 * 63.0 * 4.0 - 0.5);
    }

    #[test]
    fn q5_k_adds_the_fifth_bit_from_qh() {
        let (sc, m, q) = k_quant_fixture();
        let mut bytes = f16(TWO).to_vec();
        bytes.extend(f16(ONE_HALF));
        bytes.extend(pack_scales_k4(&sc, &m));
        // As quantize_row_q5_K_ref: qh bit (2k, 2k+1) for the k-th pair of sub-blocks.
        let mut qh = [0u8; 32];
        let mut ql = Vec::new();
        for (k, n) in (0..256).step_by(64).enumerate() {
            for j in 0..32 {
                let (l1, l2) = (q[n + j], q[n + j + 32]);
                qh[j] |= ((l1 >> 4) << (2 * k)) | ((l2 >> 4) << (2 * k + 1));
                ql.push((l1 & 15) | ((l2 & 15) << 4));
            }
        }
        bytes.extend(qh);
        bytes.extend(ql);
        let got = dequantize(GgmlType::Q5_K, &bytes, 256).unwrap();
        let want: Vec<f32> = (0..256)
            .map(|i| 2.0 * f32::from(sc[i / 32]) * f32::from(q[i]) - 0.5 * f32::from(m[i / 32]))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn q6_k_uses_signed_scales_per_16_elements() {
        let q: [u8; 256] = std::array::from_fn(|i| ((i * 29 + 7) % 64) as u8);
        let scales: [i8; 16] = std::array::from_fn(|i| (i as i8 - 8) * 15);
        // As quantize_row_q6_K_ref.
        let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
        for (h, j) in (0..256).step_by(128).enumerate() {
            for l in 0..32 {
                ql[64 * h + l] = (q[j + l] & 15) | ((q[j + l + 64] & 15) << 4);
                ql[64 * h + l + 32] = (q[j + l + 32] & 15) | ((q[j + l + 96] & 15) << 4);
                qh[32 * h + l] = (q[j + l] >> 4)
                    | ((q[j + l + 32] >> 4) << 2)
                    | ((q[j + l + 64] >> 4) << 4)
                    | ((q[j + l + 96] >> 4) << 6);
            }
        }
        let mut bytes = ql.to_vec();
        bytes.extend(qh);
        bytes.extend(scales.iter().map(|&s| s as u8));
        bytes.extend(f16(QUARTER));
        let got = dequantize(GgmlType::Q6_K, &bytes, 256).unwrap();
        let want: Vec<f32> = (0..256)
            .map(|i| 0.25 * f32::from(scales[i / 16]) * (f32::from(q[i]) - 32.0))
            .collect();
        assert_eq!(got, want);
        // Element 0: scale -120, q = 7 → 0.25 * -120 * -25.
        assert_eq!(got[0], 750.0);
    }

    #[test]
    fn q8_k_is_an_f32_scale_times_q() {
        let mut bytes = 0.125f32.to_le_bytes().to_vec();
        bytes.extend((-128i16..128).map(|q| q as i8 as u8));
        bytes.extend([0xab; 32]); // bsums: not used by dequantization
        let got = dequantize(GgmlType::Q8_K, &bytes, 256).unwrap();
        let want: Vec<f32> = (-128..128).map(|q| q as f32 * 0.125).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn dequantize_rejects_wrong_sizes_and_unsupported_types() {
        let e = dequantize(GgmlType::Q8_0, &[0; 33], 32).unwrap_err();
        assert!(matches!(&e, GgufError::Format(m) if m.contains("size mismatch")), "{e}");
        let e = dequantize(GgmlType::Q8_0, &[0; 34], 31).unwrap_err();
        assert!(matches!(&e, GgufError::Format(m) if m.contains("whole number")), "{e}");
        let e = dequantize(GgmlType::from_code(10), &[0; 84], 256).unwrap_err();
        assert!(matches!(&e, GgufError::Unsupported(m) if m.contains("Q2_K")), "{e}");
        let e = dequantize(GgmlType::Other(99), &[], 0).unwrap_err();
        assert!(
            matches!(&e, GgufError::Unsupported(m) if m.contains("ggml type 99")),
            "{e}"
        );
    }

    #[test]
    fn type_codes_round_trip() {
        for code in 0..64 {
            let t = GgmlType::from_code(code);
            assert_eq!(t.code(), code);
            assert_eq!(t.name().is_some(), t.block_layout().is_some(), "{code}");
        }
        assert_eq!(GgmlType::from_code(30), GgmlType::BF16);
        assert_eq!(GgmlType::from_code(12).to_string(), "Q4_K");
        assert_eq!(GgmlType::Q6_K.bytes_for(512), Some(420));
        assert_eq!(GgmlType::Q6_K.bytes_for(100), None);
    }
}

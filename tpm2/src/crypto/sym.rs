//! AES in the block modes TPM2_EncryptDecrypt offers (CFB, CBC, CTR, OFB, ECB),
//! with the reference implementation's IV chaining.
//!
//! The modes are written over the `aes` block cipher rather than taken from the
//! mode crates because the TPM returns the chaining value (`ivOut`) after a call,
//! including after a partial final block in CFB, OFB and CTR, which those crates do
//! not expose. The tests check the results against the mode crates.

use crate::types::{Rc, TpmResult, alg};
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256, Block};

/// The AES block size.
pub const BLOCK: usize = 16;

/// An expanded AES key of any supported size.
#[derive(Clone)]
pub enum Aes {
    /// AES-128.
    A128(Aes128),
    /// AES-192.
    A192(Aes192),
    /// AES-256.
    A256(Aes256),
}

impl core::fmt::Debug for Aes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Aes { .. }")
    }
}

impl Aes {
    /// Expands a 16-, 24- or 32-byte key; other lengths are TPM_RC_KEY_SIZE.
    pub fn new(key: &[u8]) -> TpmResult<Self> {
        Ok(match key.len() {
            16 => Aes::A128(Aes128::new_from_slice(key).map_err(|_| Rc::KEY_SIZE)?),
            24 => Aes::A192(Aes192::new_from_slice(key).map_err(|_| Rc::KEY_SIZE)?),
            32 => Aes::A256(Aes256::new_from_slice(key).map_err(|_| Rc::KEY_SIZE)?),
            _ => return Err(Rc::KEY_SIZE),
        })
    }

    /// Encrypts one block in place.
    pub fn encrypt_block(&self, block: &mut [u8; BLOCK]) {
        let mut b = Block::from(*block);
        match self {
            Aes::A128(c) => c.encrypt_block(&mut b),
            Aes::A192(c) => c.encrypt_block(&mut b),
            Aes::A256(c) => c.encrypt_block(&mut b),
        }
        *block = b.into();
    }

    /// Decrypts one block in place.
    pub fn decrypt_block(&self, block: &mut [u8; BLOCK]) {
        let mut b = Block::from(*block);
        match self {
            Aes::A128(c) => c.decrypt_block(&mut b),
            Aes::A192(c) => c.decrypt_block(&mut b),
            Aes::A256(c) => c.decrypt_block(&mut b),
        }
        *block = b.into();
    }
}

fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

fn copy_prefix(dst: &mut [u8; BLOCK], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

fn increment(counter: &mut [u8; BLOCK]) {
    for byte in counter.iter_mut().rev() {
        *byte = byte.wrapping_add(1);
        if *byte != 0 {
            break;
        }
    }
}

/// Encrypts (`decrypt` = false) or decrypts `data` in place with AES in `mode`
/// (`TPM_ALG_CFB`, ...), chaining through `iv`, which holds `ivOut` afterwards.
/// CBC and ECB need whole blocks (TPM_RC_SIZE otherwise); the stream modes take any
/// length.
pub fn aes_crypt(
    key: &Aes,
    mode: u16,
    iv: &mut [u8; BLOCK],
    decrypt: bool,
    data: &mut [u8],
) -> TpmResult<()> {
    match mode {
        alg::CFB => {
            for chunk in data.chunks_mut(BLOCK) {
                let mut pad = *iv;
                key.encrypt_block(&mut pad);
                // The feedback is the ciphertext; for a partial block the rest of
                // the IV keeps the keystream bytes, as in the reference code.
                let mut next = pad;
                if decrypt {
                    copy_prefix(&mut next, chunk);
                    xor_into(chunk, &pad);
                } else {
                    xor_into(chunk, &pad);
                    copy_prefix(&mut next, chunk);
                }
                *iv = next;
            }
        }
        alg::OFB => {
            for chunk in data.chunks_mut(BLOCK) {
                key.encrypt_block(iv);
                xor_into(chunk, iv);
            }
        }
        alg::CTR => {
            for chunk in data.chunks_mut(BLOCK) {
                let mut pad = *iv;
                key.encrypt_block(&mut pad);
                xor_into(chunk, &pad);
                increment(iv);
            }
        }
        alg::CBC => {
            if !data.len().is_multiple_of(BLOCK) {
                return Err(Rc::SIZE);
            }
            for chunk in data.chunks_exact_mut(BLOCK) {
                let mut block = [0u8; BLOCK];
                block.copy_from_slice(chunk);
                if decrypt {
                    let cipher = block;
                    key.decrypt_block(&mut block);
                    xor_into(&mut block, iv);
                    *iv = cipher;
                } else {
                    xor_into(&mut block, iv);
                    key.encrypt_block(&mut block);
                    *iv = block;
                }
                chunk.copy_from_slice(&block);
            }
        }
        alg::ECB => {
            if !data.len().is_multiple_of(BLOCK) {
                return Err(Rc::SIZE);
            }
            for chunk in data.chunks_exact_mut(BLOCK) {
                let mut block = [0u8; BLOCK];
                block.copy_from_slice(chunk);
                if decrypt {
                    key.decrypt_block(&mut block);
                } else {
                    key.encrypt_block(&mut block);
                }
                chunk.copy_from_slice(&block);
            }
        }
        _ => return Err(Rc::MODE),
    }
    Ok(())
}

/// AES-CFB with a zero IV over `data`: the TPM's protection of sensitive areas,
/// credentials and contexts (Part 1 §22.3, §24, §30).
pub fn cfb_zero_iv(key: &[u8], decrypt: bool, data: &mut [u8]) -> TpmResult<()> {
    let aes = Aes::new(key)?;
    aes_crypt(&aes, alg::CFB, &mut [0u8; BLOCK], decrypt, data)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::cast_possible_truncation)]
    use super::*;
    use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher};
    use alloc::vec::Vec;

    const KEY: [u8; 16] = [0x2b; 16];
    const IV: [u8; 16] = [0x0f; 16];

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7) as u8).collect()
    }

    fn ours(mode: u16, decrypt: bool, input: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let mut buf = input.to_vec();
        let mut iv = IV;
        aes_crypt(&Aes::new(&KEY).unwrap(), mode, &mut iv, decrypt, &mut buf).unwrap();
        (buf, iv)
    }

    #[test]
    fn cbc_matches_the_cbc_crate() {
        let plain = data(64);
        let mut expected = plain.clone();
        cbc::Encryptor::<Aes128>::new(&KEY.into(), &IV.into())
            .encrypt_padded::<aes::cipher::block_padding::NoPadding>(&mut expected, 64)
            .unwrap();
        let (cipher, iv) = ours(alg::CBC, false, &plain);
        assert_eq!(cipher, expected);
        assert_eq!(iv[..], expected[48..]);
        let mut back = cipher.clone();
        cbc::Decryptor::<Aes128>::new(&KEY.into(), &IV.into())
            .decrypt_padded::<aes::cipher::block_padding::NoPadding>(&mut back)
            .unwrap();
        assert_eq!(back, plain);
        assert_eq!(ours(alg::CBC, true, &cipher).0, plain);
    }

    #[test]
    fn ecb_matches_the_ecb_crate() {
        let plain = data(48);
        let mut expected = plain.clone();
        ecb::Encryptor::<Aes128>::new(&KEY.into())
            .encrypt_padded::<aes::cipher::block_padding::NoPadding>(&mut expected, 48)
            .unwrap();
        assert_eq!(ours(alg::ECB, false, &plain).0, expected);
        assert_eq!(ours(alg::ECB, true, &expected).0, plain);
    }

    #[test]
    fn cfb_matches_the_cfb_crate_for_any_length() {
        for len in [1usize, 15, 16, 17, 40, 64] {
            let plain = data(len);
            let mut expected = plain.clone();
            cfb_mode::BufEncryptor::<Aes128>::new(&KEY.into(), &IV.into()).encrypt(&mut expected);
            let (cipher, _) = ours(alg::CFB, false, &plain);
            assert_eq!(cipher, expected, "len {len}");
            assert_eq!(ours(alg::CFB, true, &cipher).0, plain);
        }
    }

    #[test]
    fn ctr_and_ofb_match_their_crates() {
        for len in [5usize, 16, 33] {
            let plain = data(len);
            let mut expected = plain.clone();
            ctr::Ctr128BE::<Aes128>::new(&KEY.into(), &IV.into()).apply_keystream(&mut expected);
            assert_eq!(ours(alg::CTR, false, &plain).0, expected);
            let mut expected = plain.clone();
            ofb::Ofb::<Aes128>::new(&KEY.into(), &IV.into()).apply_keystream(&mut expected);
            assert_eq!(ours(alg::OFB, false, &plain).0, expected);
            assert_eq!(ours(alg::OFB, true, &expected).0, plain);
        }
    }

    #[test]
    fn chaining_through_iv_out_equals_one_call() {
        for mode in [alg::CFB, alg::CBC, alg::CTR, alg::OFB] {
            let plain = data(64);
            let (whole, _) = ours(mode, false, &plain);
            let aes = Aes::new(&KEY).unwrap();
            let mut iv = IV;
            let mut first = plain[..32].to_vec();
            let mut second = plain[32..].to_vec();
            aes_crypt(&aes, mode, &mut iv, false, &mut first).unwrap();
            aes_crypt(&aes, mode, &mut iv, false, &mut second).unwrap();
            first.extend(second);
            assert_eq!(first, whole);
        }
    }

    #[test]
    fn block_modes_need_whole_blocks() {
        let aes = Aes::new(&KEY).unwrap();
        let mut buf = [0u8; 17];
        assert_eq!(aes_crypt(&aes, alg::CBC, &mut [0; 16], false, &mut buf), Err(Rc::SIZE));
        assert_eq!(aes_crypt(&aes, alg::ECB, &mut [0; 16], false, &mut buf), Err(Rc::SIZE));
        assert_eq!(Aes::new(&[0; 15]).err(), Some(Rc::KEY_SIZE));
    }
}

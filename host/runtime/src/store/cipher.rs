//! Encryption of credentials at rest.
//!
//! [`AesGcmCipher`] seals credentials with AES-256-GCM under a 32-byte key (given as
//! base64, usually in `TERAPI_ENCRYPTION_KEY`). Every seal draws a fresh random 96-bit
//! nonce from the operating system. The stored form is versioned so the scheme can
//! change without a flag day:
//!
//! ```text
//! 0x01 | nonce (12 bytes) | ciphertext | tag (16 bytes)
//! ```
//!
//! The associated data is the connection's identity (integration and connection id), so
//! a sealed blob copied onto another row does not open there.
//!
//! [`PlaintextCipher`] stores the serialized credentials as they are (JSON, whose first
//! byte is `{`); each cipher recognises the other's format and says so instead of
//! failing obscurely.

use super::CredentialCipher;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;

/// The format byte of AES-256-GCM sealed credentials.
const FORMAT_AES_256_GCM_V1: u8 = 0x01;
/// Bytes of a GCM nonce.
const NONCE_LEN: usize = 12;
/// Bytes of a GCM tag.
const TAG_LEN: usize = 16;

/// Error building a cipher from a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not valid base64. The key itself is never part of the message.
    #[error("the encryption key is not valid base64 (standard alphabet, with padding)")]
    NotBase64,
    /// The key does not decode to 32 bytes.
    #[error("the encryption key must decode to 32 bytes, not {0}")]
    WrongLength(usize),
}

/// AES-256-GCM with a random nonce per seal. `Debug` never prints the key.
#[derive(Clone)]
pub struct AesGcmCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for AesGcmCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesGcmCipher(<key redacted>)")
    }
}

impl AesGcmCipher {
    /// A cipher under a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        AesGcmCipher {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// A cipher under a base64-encoded 32-byte key (surrounding whitespace ignored), the
    /// form of `TERAPI_ENCRYPTION_KEY`. Generate one with `openssl rand -base64 32`.
    pub fn from_base64(key: &str) -> Result<Self, KeyError> {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let result = <[u8; 32]>::try_from(bytes.as_slice())
            .map(|key| Self::new(&key))
            .map_err(|_| KeyError::WrongLength(bytes.len()));
        bytes.fill(0);
        result
    }
}

impl CredentialCipher for AesGcmCipher {
    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|error| format!("cannot draw a random nonce: {error}"))?;
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| "encryption failed".to_string())?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_AES_256_GCM_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, String> {
        match sealed.first() {
            Some(&FORMAT_AES_256_GCM_V1) => {}
            Some(b'{') => {
                return Err(
                    "they were stored unencrypted (without an encryption key); store the connection again"
                        .into(),
                );
            }
            Some(other) => return Err(format!("unknown storage format {other:#04x}")),
            None => return Err("the stored value is empty".into()),
        }
        let body = &sealed[1..];
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err("the sealed value is truncated".into());
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| "the sealed value is truncated".to_string())?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| {
                "decryption failed: wrong encryption key, or the value was altered".to_string()
            })
    }
}

/// Stores credentials as they are. Only for development: `terapi serve` refuses it
/// unless started with `--insecure-dev`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlaintextCipher;

impl CredentialCipher for PlaintextCipher {
    fn seal(&self, plaintext: &[u8], _associated_data: &[u8]) -> Result<Vec<u8>, String> {
        Ok(plaintext.to_vec())
    }

    fn open(&self, sealed: &[u8], _associated_data: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.first() == Some(&FORMAT_AES_256_GCM_V1) {
            return Err(
                "they are encrypted; set TERAPI_ENCRYPTION_KEY to the key they were stored with"
                    .into(),
            );
        }
        Ok(sealed.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> AesGcmCipher {
        AesGcmCipher::new(&[7u8; 32])
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let cipher = cipher();
        let first = cipher
            .seal(b"{\"token\":\"secret\"}", b"k/c")
            .expect("seal");
        let second = cipher
            .seal(b"{\"token\":\"secret\"}", b"k/c")
            .expect("seal");
        assert_eq!(first[0], FORMAT_AES_256_GCM_V1);
        assert_ne!(first, second, "nonces differ");
        assert!(!first.windows(6).any(|window| window == b"secret"));
        assert_eq!(
            cipher.open(&first, b"k/c").expect("open"),
            b"{\"token\":\"secret\"}"
        );
    }

    #[test]
    fn wrong_key_wrong_row_or_tampering_fail_without_revealing_anything() {
        let sealed = cipher().seal(b"{\"t\":1}", b"k/c").expect("seal");
        let other = AesGcmCipher::new(&[8u8; 32]);
        assert!(other.open(&sealed, b"k/c").is_err());
        assert!(
            cipher().open(&sealed, b"k/other").is_err(),
            "bound to the row"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher().open(&tampered, b"k/c").is_err());
        assert!(cipher().open(&sealed[..10], b"k/c").is_err());
        assert!(cipher().open(&[], b"k/c").is_err());
        assert!(cipher().open(&[9, 1, 2], b"k/c").is_err());
    }

    #[test]
    fn formats_are_recognised_across_ciphers() {
        let error = cipher().open(b"{\"t\":1}", b"").expect_err("plaintext");
        assert!(error.contains("unencrypted"), "{error}");
        let sealed = cipher().seal(b"{}", b"").expect("seal");
        let error = PlaintextCipher.open(&sealed, b"").expect_err("encrypted");
        assert!(error.contains("TERAPI_ENCRYPTION_KEY"), "{error}");
    }

    #[test]
    fn keys_are_base64_of_32_bytes_and_never_echoed() {
        let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(AesGcmCipher::from_base64(&format!(" {key}\n")).is_ok());
        assert_eq!(
            AesGcmCipher::from_base64("c2hvcnQ=").expect_err("short"),
            KeyError::WrongLength(5)
        );
        let error = AesGcmCipher::from_base64("not base64 !!").expect_err("bad");
        assert!(!error.to_string().contains("!!"));
        let debug = format!("{:?}", AesGcmCipher::new(&[1u8; 32]));
        assert!(debug.contains("redacted"));
    }
}

//! Checkr's webhook signature: `X-Checkr-Signature` is the lowercase hex
//! HMAC-SHA256 of the raw (compact JSON) body, keyed with the partner application's
//! client secret (direct customers: the API key). No timestamp, no prefix.

use sha2::{Digest, Sha256};

/// The `X-Checkr-Signature` value for `body` signed with `secret`: lowercase hex
/// HMAC-SHA256.
///
/// ```
/// assert_eq!(
///     checkr_sim::sign_webhook(b"test-secret", br#"{"monday":"75F","tuesday":"80F"}"#),
///     "b7412f05e981a473b5ecbdb5393afaea02a679db6d7c8e56803512ec4ba98151"
/// );
/// ```
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    hmac_sha256(secret, body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA256 (RFC 2104) over SHA-256's 64-byte blocks.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkr_test_vector() {
        assert_eq!(
            sign_webhook(b"test-secret", br#"{"monday":"75F","tuesday":"80F"}"#),
            "b7412f05e981a473b5ecbdb5393afaea02a679db6d7c8e56803512ec4ba98151"
        );
    }

    #[test]
    fn rfc4231_case_2_and_long_key() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign_webhook(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231 test case 6 (key longer than the block).
        assert_eq!(
            sign_webhook(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}

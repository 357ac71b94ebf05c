//! The bearer tokens the studio API hands out. Only their SHA-256 is
//! stored; the token itself exists in the answer that created it.
//!
//! - API keys: `fd_live_<32 random base62>_<6 base62 checksum>`. The
//!   checksum (from SHA-256 of the rest) lets secret scanners recognise a
//!   leaked key by pattern and lets us refuse a mistyped key without a
//!   database round trip. The first 16 characters are the visible prefix.
//! - Sessions: `fd_sess_<43 base64url>` (256 random bits).
//! - Invitations: `fd_invite_<43 base64url>`, one use, good only for
//!   accepting the invitation.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use frontdesk_store::credentials::CredentialKind;
use rand::{Rng, RngCore, distr::Alphanumeric};
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "fd_live_";
pub const SESSION_PREFIX: &str = "fd_sess_";
pub const INVITATION_PREFIX: &str = "fd_invite_";
const KEY_RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// `fd_live_` plus 8 random characters: enough to tell keys apart, far too
/// few to guess the rest.
const VISIBLE_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 8;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly minted token and what is stored of it.
pub struct Minted {
    pub token: String,
    pub hash: [u8; 32],
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn new_api_key() -> (Minted, String) {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(KEY_RANDOM_LEN).map(char::from).collect();
    let body = format!("{API_KEY_PREFIX}{random}");
    let token = format!("{body}_{}", checksum(&body));
    let prefix = token[..VISIBLE_PREFIX_LEN].to_owned();
    (Minted { hash: hash(&token), token }, prefix)
}

pub fn new_session() -> Minted {
    opaque(SESSION_PREFIX)
}

pub fn new_invitation() -> Minted {
    opaque(INVITATION_PREFIX)
}

fn opaque(prefix: &str) -> Minted {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    Minted { hash: hash(&token), token }
}

/// Six base62 digits of SHA-256(`fd_live_<random>`).
fn checksum(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let mut out = [0u8; CHECKSUM_LEN];
    for c in out.iter_mut().rev() {
        *c = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

/// Which kind of credential a presented bearer token claims to be, if it
/// is well formed. A key whose checksum does not match is refused here.
pub fn classify(token: &str) -> Option<CredentialKind> {
    if let Some(rest) = token.strip_prefix(API_KEY_PREFIX) {
        let (random, sum) = rest.rsplit_once('_')?;
        let well_formed = random.len() == KEY_RANDOM_LEN
            && sum.len() == CHECKSUM_LEN
            && random.bytes().all(|b| b.is_ascii_alphanumeric());
        return (well_formed && checksum(&format!("{API_KEY_PREFIX}{random}")) == sum)
            .then_some(CredentialKind::ApiKey);
    }
    let opaque_ok = |rest: &str| rest.len() == 43 && URL_SAFE_NO_PAD.decode(rest).is_ok_and(|b| b.len() == 32);
    if let Some(rest) = token.strip_prefix(SESSION_PREFIX) {
        return opaque_ok(rest).then_some(CredentialKind::Session);
    }
    if let Some(rest) = token.strip_prefix(INVITATION_PREFIX) {
        return opaque_ok(rest).then_some(CredentialKind::Invitation);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_carry_a_checksum_that_catches_any_typo() {
        let (minted, prefix) = new_api_key();
        assert!(minted.token.starts_with("fd_live_"));
        assert_eq!(minted.token.len(), API_KEY_PREFIX.len() + KEY_RANDOM_LEN + 1 + CHECKSUM_LEN);
        assert!(minted.token.starts_with(&prefix) && prefix.len() == 16);
        assert_eq!(classify(&minted.token), Some(CredentialKind::ApiKey));
        assert_eq!(minted.hash, hash(&minted.token));
        // Every single-character change in the random part or checksum is caught.
        let bytes = minted.token.as_bytes();
        for i in API_KEY_PREFIX.len()..bytes.len() {
            if bytes[i] == b'_' {
                continue;
            }
            let mut typo = bytes.to_vec();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            assert_eq!(classify(std::str::from_utf8(&typo).unwrap()), None, "typo at {i} went unnoticed");
        }
        assert_eq!(classify(&minted.token[..minted.token.len() - 1]), None);
    }

    #[test]
    fn sessions_and_invitations_are_told_apart_and_random() {
        let (a, b) = (new_session(), new_session());
        assert_ne!(a.token, b.token);
        assert_eq!(classify(&a.token), Some(CredentialKind::Session));
        assert_eq!(classify(&new_invitation().token), Some(CredentialKind::Invitation));
        for junk in ["", "Bearer", "fd_sess_", "fd_sess_short", "fd_live_x_y", "sk_live_abc", "fd_test_abc"] {
            assert_eq!(classify(junk), None, "{junk}");
        }
    }
}

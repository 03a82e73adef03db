//! The cursor-signing key: an SSM SecureString of random text, created once and never
//! overwritten (a new key would invalidate every cursor clients hold).

use crate::error::classify;
use aws_sdk_ssm::types::ParameterType;
use eventpulse_handlers::ports::{PortError, PortResult};

/// 64 characters of 62 possible: 381 bits, well past the 32 bytes `Aws::cursor_key` asks for.
const KEY_CHARS: usize = 64;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub(super) async fn cursor_key(ssm: &aws_sdk_ssm::Client, name: &str) -> PortResult<()> {
    // Without decryption: only whether it exists, and as what, matters here.
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => {
            let kind = out.parameter.and_then(|p| p.r#type);
            return match kind {
                Some(ParameterType::SecureString) => Ok(()),
                other => Err(PortError::permanent(format!(
                    "SSM parameter {name} exists as {other:?}, not as a SecureString; \
                     it is left as it is: delete it or choose another prefix"
                ))),
            };
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) => {}
        Err(e) => return Err(classify(&format!("SSM GetParameter {name}"), e)),
    }
    let result = ssm
        .put_parameter()
        .name(name)
        .value(random_key()?)
        .r#type(ParameterType::SecureString)
        .overwrite(false)
        .description("EventPulse cursor-signing key (HMAC); never rotate it in place")
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // Another run created it first: theirs is kept.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_already_exists()) =>
        {
            Ok(())
        }
        Err(e) => Err(classify(&format!("SSM PutParameter {name}"), e)),
    }
}

/// Letters and digits from the OS's CSPRNG; bytes past the largest multiple of the
/// alphabet's size are dropped, so every character is equally likely.
fn random_key() -> PortResult<String> {
    let limit = 256 - 256 % ALPHABET.len();
    let mut key = String::with_capacity(KEY_CHARS);
    let mut buf = [0u8; 2 * KEY_CHARS];
    while key.len() < KEY_CHARS {
        getrandom::fill(&mut buf)
            .map_err(|e| PortError::transient(format!("no randomness for the cursor key: {e}")))?;
        key.extend(
            buf.iter()
                .filter(|b| usize::from(**b) < limit)
                .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
                .take(KEY_CHARS - key.len()),
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_64_random_letters_and_digits() {
        let (a, b) = (random_key().expect("key"), random_key().expect("key"));
        assert_eq!(a.len(), KEY_CHARS);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
    }
}

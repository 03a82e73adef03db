//! Local authentication: HS256 JWTs, verified here (on AWS, API Gateway's Cognito
//! authorizer verifies tokens and the Lambda reads its claims instead).

use eventpulse_contract_rt::{ApiError, Authenticator, Principal};
use eventpulse_handlers::keys::is_valid_owner;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "eventpulse-local";
pub const AUDIENCE: &str = "eventpulse";
/// The longest a token may be valid (`exp - iat`); longer ones are refused, so a leaked
/// token stops working within this time at the latest.
pub const MAX_TOKEN_HOURS: i64 = 30 * 24;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    /// Required on verification (a token without it is refused); optional here so that its
    /// absence gets its own message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

/// Signs a token for `user`, valid for `ttl` (at most [`MAX_TOKEN_HOURS`]; a negative `ttl`
/// gives an expired token, for tests).
pub fn mint(secret: &[u8], user: &str, ttl: chrono::Duration) -> anyhow::Result<String> {
    anyhow::ensure!(
        is_valid_owner(user),
        "`{user}` is not a valid user id: 1-128 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit"
    );
    anyhow::ensure!(
        ttl.num_hours().abs() <= MAX_TOKEN_HOURS,
        "a token may be valid for at most {MAX_TOKEN_HOURS} hours"
    );
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user.into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: Some(now),
        exp: now + ttl.num_seconds(),
        nbf: None,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )?)
}

pub struct JwtAuthenticator {
    key: DecodingKey,
    validation: Validation,
}

impl JwtAuthenticator {
    pub fn new(secret: &[u8]) -> Self {
        // Only HS256: a token announcing `none` or another algorithm is refused outright.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS.unsigned_abs();
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        // RFC 7515 4.1.11: a token naming extensions that must be understood (`crit`) is
        // refused by a recipient that implements none.
        if jsonwebtoken::decode_header(token).is_ok_and(|h| h.crit.is_some()) {
            return Err(ApiError::unauthorized(
                "The token's header lists critical extensions (crit); this server implements none.",
            ));
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                ApiError::unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        "The token has expired; get a new one (eventpulse token --user NAME)."
                    }
                    ErrorKind::InvalidSignature => {
                        "The token's signature is invalid: it was not issued by this server."
                    }
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "The token must be signed with HS256."
                    }
                    ErrorKind::InvalidIssuer => "The token was issued for another issuer.",
                    ErrorKind::InvalidAudience => "The token was issued for another audience.",
                    ErrorKind::MissingRequiredClaim(_) => {
                        "The token lacks a required claim (sub, exp, iss, aud, iat)."
                    }
                    ErrorKind::ImmatureSignature => {
                        "The token is not valid yet (nbf is in the future)."
                    }
                    _ => "The bearer token is malformed.",
                })
            })?;
        let claims = &data.claims;
        let now = chrono::Utc::now().timestamp();
        let Some(iat) = claims.iat else {
            return Err(ApiError::unauthorized(
                "The token lacks a required claim (sub, exp, iss, aud, iat).",
            ));
        };
        if iat > now.saturating_add(LEEWAY_SECS) {
            return Err(ApiError::unauthorized(
                "The token claims to be issued in the future (iat); check the clocks.",
            ));
        }
        if claims.exp.saturating_sub(iat) > MAX_TOKEN_HOURS * 3600 {
            return Err(ApiError::unauthorized(format!(
                "The token is valid for longer than {MAX_TOKEN_HOURS} hours (exp - iat); get a shorter-lived one."
            )));
        }
        if !is_valid_owner(&data.claims.sub) {
            return Err(ApiError::unauthorized(
                "The token's subject is not a valid user id.",
            ));
        }
        Ok(Principal {
            user_id: data.claims.sub,
        })
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, ApiError> {
        let mut all = parts.headers.get_all(http::header::AUTHORIZATION).iter();
        let header = all.next().ok_or_else(|| {
            ApiError::unauthorized("Send a bearer token: Authorization: Bearer <token>.")
        })?;
        // Which of two would count is ambiguous (proxies and servers disagree): refuse.
        let more = all.count();
        if more > 0 {
            return Err(ApiError::bad_request(format!(
                "The request has {} Authorization headers; send exactly one: Authorization: Bearer <token>.",
                more + 1
            )));
        }
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("The Authorization header is not ASCII."))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("The Authorization header must be `Bearer <token>`.")
            })?;
        self.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const SECRET: &[u8] = b"test-secret-of-enough-length-32b";

    fn status_detail(r: Result<Principal, ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.status, http::StatusCode::UNAUTHORIZED);
        e.detail
    }

    #[test]
    fn a_minted_token_verifies() {
        let t = mint(SECRET, "alice", chrono::Duration::hours(1)).unwrap();
        assert_eq!(
            JwtAuthenticator::new(SECRET).verify(&t).unwrap().user_id,
            "alice"
        );
    }

    #[test]
    fn refuses_expired_wrong_key_and_garbage() {
        let a = JwtAuthenticator::new(SECRET);
        let expired = mint(SECRET, "alice", chrono::Duration::hours(-1)).unwrap();
        assert!(status_detail(a.verify(&expired)).contains("expired"));
        let other = mint(
            b"another-secret-another-secret-xx",
            "alice",
            chrono::Duration::hours(1),
        )
        .unwrap();
        assert!(status_detail(a.verify(&other)).contains("signature"));
        for junk in ["", "abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30."] {
            status_detail(a.verify(junk));
        }
    }

    #[test]
    fn refuses_alg_none() {
        let t = mint(SECRET, "alice", chrono::Duration::hours(1)).unwrap();
        let payload = t.split('.').nth(1).unwrap();
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for forged in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            status_detail(JwtAuthenticator::new(SECRET).verify(&forged));
        }
    }

    #[test]
    fn refuses_wrong_issuer_or_audience_or_subject() {
        let now = chrono::Utc::now().timestamp();
        let sign = |c: &Claims| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                c,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap()
        };
        let a = JwtAuthenticator::new(SECRET);
        let base = || Claims {
            sub: "alice".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: Some(now),
            exp: now + 60,
            nbf: None,
        };
        assert!(
            status_detail(a.verify(&sign(&Claims {
                iss: "x".into(),
                ..base()
            })))
            .contains("issuer")
        );
        assert!(
            status_detail(a.verify(&sign(&Claims {
                aud: "x".into(),
                ..base()
            })))
            .contains("audience")
        );
        assert!(
            status_detail(a.verify(&sign(&Claims {
                sub: "_operator".into(),
                ..base()
            })))
            .contains("subject")
        );
        assert!(mint(SECRET, "../bob", chrono::Duration::hours(1)).is_err());
    }

    fn sign(c: &Claims) -> String {
        sign_with(&Header::new(Algorithm::HS256), c)
    }

    fn sign_with(h: &Header, c: &Claims) -> String {
        jsonwebtoken::encode(h, c, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    fn claims(iat: Option<i64>, exp: i64, nbf: Option<i64>) -> Claims {
        Claims {
            sub: "alice".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat,
            exp,
            nbf,
        }
    }

    #[test]
    fn refuses_a_token_not_valid_yet() {
        let now = chrono::Utc::now().timestamp();
        let a = JwtAuthenticator::new(SECRET);
        let early = sign(&claims(Some(now), now + 7200, Some(now + 3600)));
        assert!(status_detail(a.verify(&early)).contains("nbf"));
        // Within the leeway, or in the past, nbf is fine.
        let ok = sign(&claims(Some(now), now + 7200, Some(now + 5)));
        assert_eq!(a.verify(&ok).unwrap().user_id, "alice");
    }

    #[test]
    fn refuses_a_token_valid_for_too_long() {
        let now = chrono::Utc::now().timestamp();
        let a = JwtAuthenticator::new(SECRET);
        let forever = sign(&claims(Some(now), now + 10 * 365 * 86400, None));
        assert!(status_detail(a.verify(&forever)).contains("longer than"));
        let longest = sign(&claims(Some(now), now + MAX_TOKEN_HOURS * 3600, None));
        assert!(a.verify(&longest).is_ok());
        // Minting refuses it too, instead of issuing a token the server refuses.
        assert!(
            mint(
                SECRET,
                "alice",
                chrono::Duration::hours(MAX_TOKEN_HOURS + 1)
            )
            .is_err()
        );
    }

    #[test]
    fn refuses_a_token_issued_in_the_future_or_without_iat() {
        let now = chrono::Utc::now().timestamp();
        let a = JwtAuthenticator::new(SECRET);
        let future = sign(&claims(Some(now + 3600), now + 7200, None));
        assert!(status_detail(a.verify(&future)).contains("iat"));
        let skewed = sign(&claims(Some(now + 10), now + 7200, None));
        assert!(a.verify(&skewed).is_ok(), "a small clock skew is tolerated");
        let without = sign(&claims(None, now + 60, None));
        assert!(status_detail(a.verify(&without)).contains("iat"));
    }

    /// Algorithm confusion: a token announcing any other algorithm is refused before its
    /// signature is looked at, HMAC with the same secret included (HS384/HS512), and
    /// RS256/ES256 signed with a "public key" that is our secret's bytes (the classic attack
    /// on servers that pick the key type from the header).
    #[test]
    fn refuses_every_other_algorithm() {
        let now = chrono::Utc::now().timestamp();
        let a = JwtAuthenticator::new(SECRET);
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let t = sign_with(&Header::new(alg), &claims(Some(now), now + 60, None));
            assert!(status_detail(a.verify(&t)).contains("HS256"), "{alg:?}");
        }
        let payload = sign(&claims(Some(now), now + 60, None));
        let payload = payload.split('.').nth(1).unwrap();
        for alg in ["RS256", "ES256", "PS256", "EdDSA", "HS256 ", "hs256"] {
            let header = B64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let input = format!("{header}.{payload}");
            let mac = {
                use hmac::Mac;
                let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
                m.update(input.as_bytes());
                B64.encode(m.finalize().into_bytes())
            };
            status_detail(a.verify(&format!("{input}.{mac}")));
        }
    }

    /// Key selection games: `kid`, `jku`, `x5u` and `jwk` in the header are never used to
    /// find a key (there is one), so a token signed with another key stays refused whatever
    /// they name, and our own token is not made invalid by them either.
    #[test]
    fn header_key_hints_choose_nothing() {
        let now = chrono::Utc::now().timestamp();
        let a = JwtAuthenticator::new(SECRET);
        let c = claims(Some(now), now + 60, None);
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("../../../../dev/null".into());
        h.jku = Some("https://attacker.example/jwks.json".into());
        h.x5u = Some("https://attacker.example/cert.pem".into());
        let other = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(b"")).unwrap();
        assert!(status_detail(a.verify(&other)).contains("signature"));
        let empty_key = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(b"\0")).unwrap();
        assert!(status_detail(a.verify(&empty_key)).contains("signature"));
        assert_eq!(a.verify(&sign_with(&h, &c)).unwrap().user_id, "alice");
    }

    /// Clock skew: `exp` is honoured with LEEWAY_SECS of slack and not a second more.
    #[test]
    fn expiry_tolerates_only_the_stated_skew() {
        let now = chrono::Utc::now().timestamp();
        let a = JwtAuthenticator::new(SECRET);
        let just = sign(&claims(Some(now - 3600), now - LEEWAY_SECS / 3, None));
        assert!(a.verify(&just).is_ok(), "expired within the leeway");
        let past = sign(&claims(Some(now - 3600), now - 2 * LEEWAY_SECS, None));
        assert!(status_detail(a.verify(&past)).contains("expired"));
    }

    #[test]
    fn refuses_a_token_with_critical_extensions() {
        let now = chrono::Utc::now().timestamp();
        let mut h = Header::new(Algorithm::HS256);
        h.crit = Some(vec!["exp".into()]);
        let t = sign_with(&h, &claims(Some(now), now + 60, None));
        assert!(status_detail(JwtAuthenticator::new(SECRET).verify(&t)).contains("crit"));
    }

    #[test]
    fn two_authorization_headers_are_a_bad_request() {
        let t = mint(SECRET, "alice", chrono::Duration::hours(1)).unwrap();
        let (parts, ()) = http::Request::builder()
            .header("authorization", format!("Bearer {t}"))
            .header("authorization", "Bearer someone-else")
            .body(())
            .unwrap()
            .into_parts();
        let e = JwtAuthenticator::new(SECRET)
            .authenticate(&parts)
            .unwrap_err();
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert!(e.detail.contains("2 Authorization headers"), "{}", e.detail);
    }
}

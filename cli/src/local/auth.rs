//! Local authentication: HS256 JWTs, verified here (on AWS, API Gateway's Cognito
//! authorizer verifies tokens and the Lambda reads its claims instead).

use eventpulse_contract_rt::{ApiError, Authenticator, Principal};
use eventpulse_handlers::keys::is_valid_owner;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "eventpulse-local";
pub const AUDIENCE: &str = "eventpulse";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Signs a token for `user`, valid for `ttl`.
pub fn mint(secret: &[u8], user: &str, ttl: chrono::Duration) -> anyhow::Result<String> {
    anyhow::ensure!(
        is_valid_owner(user),
        "`{user}` is not a valid user id: 1-128 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit"
    );
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user.into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + ttl.num_seconds(),
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
        validation.leeway = 30;
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
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
                        "The token lacks a required claim (sub, exp, iss, aud)."
                    }
                    _ => "The bearer token is malformed.",
                })
            })?;
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
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("Send a bearer token: Authorization: Bearer <token>.")
            })?;
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
            iat: now,
            exp: now + 60,
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
}

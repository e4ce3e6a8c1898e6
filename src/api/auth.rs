//! Who is calling: the operator (`Authorization: Bearer <API_KEY>`) or a
//! tenant administrator (a tenant JWT, HS256 with `API_JWT_SECRET`, `sub` =
//! tenant id, 24 h), which sees and changes only its own tenant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::ApiError;
use super::AppState;
use crate::domain::ids::TenantId;

/// Issuer claim, as Outpost's tokens carry.
const ISSUER: &str = "outpost";
/// How long a tenant token is valid.
pub const TOKEN_TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Admin,
    Tenant(TenantId),
}

impl Principal {
    /// Allowed to act on `tenant`? Admins always; tenants only on their own.
    pub fn check_tenant(&self, tenant: &TenantId) -> Result<(), ApiError> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Tenant(t) if t == tenant => Ok(()),
            Principal::Tenant(_) => Err(ApiError::forbidden()),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Tenant(_) => Err(ApiError::forbidden()),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        if constant_time_eq(token.as_bytes(), state.auth.api_key.as_bytes()) {
            return Ok(Principal::Admin);
        }
        let now = chrono::Utc::now().timestamp();
        let claims =
            verify(&state.auth.jwt_secret, token, now).ok_or_else(ApiError::unauthorized)?;
        let tenant = TenantId::parse(&claims.sub).map_err(|_| ApiError::unauthorized())?;
        Ok(Principal::Tenant(tenant))
    }
}

/// The secrets auth needs.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub api_key: String,
    pub jwt_secret: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// A tenant token issued at `now` (unix seconds).
pub fn issue(secret: &str, tenant: &TenantId, now: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = Claims {
        iss: ISSUER.into(),
        sub: tenant.to_string(),
        iat: now,
        exp: now + TOKEN_TTL_SECS,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(sign(secret, signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

/// The claims of a valid, unexpired HS256 token signed with `secret`.
pub fn verify(secret: &str, token: &str, now: i64) -> Option<Claims> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&sig).ok()?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    (claims.exp > now && claims.iss == ISSUER).then_some(claims)
}

fn sign(secret: &str, input: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_expire() {
        let t = TenantId::parse("acme").unwrap();
        let token = issue("s3cret", &t, 1_700_000_000);
        let claims = verify("s3cret", &token, 1_700_000_100).unwrap();
        assert_eq!(claims.sub, "acme");
        assert_eq!(claims.iss, "outpost");
        assert_eq!(claims.exp - claims.iat, 86_400);
        assert!(
            verify("other", &token, 1_700_000_100).is_none(),
            "wrong key"
        );
        assert!(verify("s3cret", &token, 1_700_086_401).is_none(), "expired");
        let mut tampered = token.clone();
        tampered.insert(tampered.find('.').unwrap() + 2, 'x');
        assert!(verify("s3cret", &tampered, 1_700_000_100).is_none());
        assert!(verify("s3cret", "not.a.jwt", 0).is_none());
    }

    #[test]
    fn an_alg_none_token_is_refused() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let p =
            URL_SAFE_NO_PAD.encode(br#"{"iss":"outpost","sub":"acme","iat":0,"exp":9999999999}"#);
        assert!(verify("s3cret", &format!("{h}.{p}."), 1).is_none());
    }
}

//! Extractors: what every handler needs before it can say what it does.
//!
//! A handler names what it needs in its arguments and gets it parsed and
//! checked, or the request is answered with the error here:
//!
//! - [`TenantScope`]: the `{tenant_id}` of the path, which the caller may
//!   act on (400 for a malformed id, 403 for another tenant's);
//! - [`DestinationScope`]: that plus `{destination_id}` (404 when malformed:
//!   no such destination can exist);
//! - [`Operator`]: the caller is the operator (403 otherwise);
//! - [`Db`]: a pooled connection (503 when the database is unreachable);
//! - [`Body`]: the JSON body as a typed request that refuses unknown fields
//!   (400 for malformed JSON, 422 for the wrong shape); an empty body is the
//!   type's default where the route allows one ([`OptionalBody`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::auth::Principal;
use super::error::ApiError;
use super::AppState;
use crate::domain::ids::{DestinationId, TenantId};
use crate::store::StoreError;

/// The tenant named in the path, checked against the caller.
#[derive(Debug, Clone)]
pub struct TenantScope {
    pub principal: Principal,
    pub tenant: TenantId,
}

/// A path parameter by name. A route without it is a programming error,
/// answered as a 500 rather than a panic.
async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> Result<String, ApiError> {
    let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    params.remove(name).ok_or_else(|| {
        ApiError::internal(&std::io::Error::other(format!(
            "route has no {{{name}}} parameter"
        )))
    })
}

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let raw = path_param(parts, state, "tenant_id").await?;
        let tenant = TenantId::try_from(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
        principal.check_tenant(&tenant)?;
        Ok(TenantScope { principal, tenant })
    }
}

/// A destination of the tenant named in the path.
#[derive(Debug, Clone)]
pub struct DestinationScope {
    pub scope: TenantScope,
    pub id: DestinationId,
}

impl FromRequestParts<AppState> for DestinationScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let scope = TenantScope::from_request_parts(parts, state).await?;
        let raw = path_param(parts, state, "destination_id").await?;
        let id = DestinationId::try_from(raw).map_err(|_| ApiError::not_found("destination"))?;
        Ok(DestinationScope { scope, id })
    }
}

/// The caller is the operator.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Principal::from_request_parts(parts, state)
            .await?
            .require_admin()?;
        Ok(Operator)
    }
}

/// A pooled database connection for the request: `Db(db): Db`.
pub struct Db(pub deadpool_postgres::Object);

impl FromRequestParts<AppState> for Db {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = state.pool.get().await.map_err(StoreError::from)?;
        Ok(Db(client))
    }
}

/// Parses a JSON request body: 400 when it is not JSON, 422 when it is JSON
/// of the wrong shape (not an object, a missing or unknown field, a wrong
/// type). Every body of this API is an object; serde would also read a
/// struct from an array, so anything else is refused first.
pub fn from_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let malformed = |e: serde_json::Error| ApiError::bad_request(format!("malformed JSON: {e}"));
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(malformed)?;
        return Err(ApiError::unprocessable("the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            malformed(e)
        } else {
            ApiError::unprocessable(e.to_string())
        }
    })
}

/// A JSON body of type `T`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        from_json(&bytes).map(Body)
    }
}

/// A JSON body of type `T`, or `T::default()` when the body is empty.
pub struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        from_json(&bytes).map(OptionalBody)
    }
}

/// The raw request body, read within `API_BODY_READ_TIMEOUT_SECONDS`.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_body(req, state).await.map(RawBody)
    }
}

/// Reads the body, giving up (408) when the client has not sent it within
/// the body-read timeout: a client trickling its body would otherwise hold
/// the request (and its connection) as long as it likes.
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.body_read_timeout;
    match tokio::time::timeout(limit, Bytes::from_request(req, state)).await {
        Ok(read) => read.map_err(|e| ApiError::new(e.status(), e.body_text())),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {limit:?}"),
        )),
    }
}

/// Refuses a request whose declared `Content-Length` is over the limit
/// (413) before anything reads its body: without it the server would wait
/// for a terabyte that is not coming.
pub async fn refuse_oversized(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

//! Extractors whose rejections are [`ApiError`]s, so malformed input gets the same JSON
//! error shape as everything else.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest request body accepted, in bytes. Every lender and device request is far smaller;
/// bulk imports (later) stream through their own endpoint.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
                JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge(BODY_LIMIT)
                }
                other => ApiError::MalformedJson(other.body_text()),
            }),
        }
    }
}

/// Query-string parameters.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::InvalidQuery(e.body_text()))
    }
}

/// Path parameters. An id that does not parse names no resource: 404, like a missing one,
/// so probing with junk ids learns nothing.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_: PathRejection| ApiError::BadPathId)
    }
}

/// The caller's address; unknown (a router driven without a listener) counts as one client.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or(
                    std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    |axum::extract::ConnectInfo(a)| a.ip(),
                ),
        ))
    }
}

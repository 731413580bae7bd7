//! The client's IP address and scheme, as extractors: the TCP peer, or, when the peer is
//! a trusted proxy (`--trusted-proxies`), what that proxy saw ([`TrustedProxies`]).

use crate::config::TrustedProxies;
use crate::listener::ClientAddr;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::IpAddr;

/// The TCP peer's address (0.0.0.0 when the server runs without connection info).
fn peer_ip(parts: &Parts) -> IpAddr {
    match parts.extensions.get::<ConnectInfo<ClientAddr>>() {
        Some(ConnectInfo(ClientAddr(addr))) => addr.ip(),
        None => IpAddr::from([0, 0, 0, 0]),
    }
}

/// Extracts the client's IP address as [`TrustedProxies::client_ip`] decides it.
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    TrustedProxies: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(TrustedProxies::from_ref(state).client_ip(peer_ip(parts), &parts.headers)))
    }
}

/// Extracts whether the client used HTTPS, as [`TrustedProxies::forwarded_proto_https`]
/// decides it (this server speaks plain HTTP itself).
pub struct ClientOverHttps(pub bool);

impl<S> FromRequestParts<S> for ClientOverHttps
where
    TrustedProxies: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(TrustedProxies::from_ref(state).forwarded_proto_https(peer_ip(parts), &parts.headers)))
    }
}

//! Deny-only `wasi:http` for stages: the interfaces link, no request ever leaves. Never
//! granted: no stream setting opens the network to a stage.
//!
//! JavaScript components built with componentize-js import `wasi:http/types` and
//! `wasi:http/outgoing-handler` whether or not the script uses `fetch`. Without these
//! interfaces such a component would not link at all. compose links them from
//! `wasmtime-wasi-http`, built without its client (no `default-send-request`: no TLS stack, no
//! connection code), with a [`WasiHttpHooks::send_request`] that denies every request: the
//! future `outgoing-handler.handle` returns resolves to `error-code.HTTP-request-denied`, so
//! `fetch()` in a stage rejects and nothing reaches the network.
//!
//! A component built against any `wasi:http@0.2.x` links (wasmtime matches imports by semver
//! compatibility).
//!
//! This replaced 609 lines of hand-written stubs and 668 lines of vendored WIT (issue 15). Its
//! cost, measured then: 3 more crates in the lock (`wasmtime-wasi-http`, `h2`, `httpdate`; hyper
//! gains its `http2` and `server` features), about 30 s more of a release build on 2 cores
//! (h2 12 s, wasmtime-wasi-http 13 s, hyper +2 s), and 0.5 MB more code in the binary.

use wasmtime::component::Linker;

use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use super::StageState;
use super::Verdict;

/// The `wasi:http` state of one stage run.
pub(crate) struct Http {
    ctx: WasiHttpCtx,
    hooks: Deny,
}

impl Http {
    /// The state of stage `stage` running `plugin` (named in the log of a denied request).
    pub fn new(stage: &str, plugin: &str) -> Self {
        Http {
            ctx: WasiHttpCtx::new(),
            hooks: Deny {
                stage: stage.to_string(),
                plugin: plugin.to_string(),
            },
        }
    }
}

/// The hooks of one stage run: every request is denied, and logged with the stage.
struct Deny {
    stage: String,
    plugin: String,
}

/// What [`WasiHttpHooks::send_request`] returns: the response, or here, the refusal.
type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for Deny {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        tracing::warn!(
            stage = self.stage.as_str(),
            plugin = self.plugin.as_str(),
            "denied an outgoing HTTP request to {}: stages have no network",
            request.uri()
        );
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiHttpView for StageState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            hooks: &mut self.http.hooks,
            table: &mut self.table,
        }
    }
}

/// The verdict on a WASI import, if this capability owns it: any `wasi:http@0.2.x` links
/// (wasmtime matches imports by semver compatibility), every request denied.
pub(crate) fn judge(base: &str, version: Option<&str>) -> Option<Verdict> {
    if !base.starts_with("wasi:http/") {
        return None;
    }
    Some(if version.is_some_and(|v| v.starts_with("0.2.")) {
        Verdict::granted("linked, every request denied")
    } else {
        Verdict::refused(format!(
            "compose links wasi:http 0.2.x (every request denied), not {}",
            version.unwrap_or("an unversioned import")
        ))
    })
}

/// Links `wasi:http/types` and `wasi:http/outgoing-handler`, every request denied.
pub(crate) fn link(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::pin::Pin;

    use http_body_util::BodyExt;

    use super::*;

    /// The hook every request of the library goes through answers `HTTP-request-denied`.
    #[tokio::test]
    async fn the_hook_denies_every_request() {
        let mut http = Http::new("only", "guest-http.wasm");
        let body: WasiBody = http_body_util::Empty::<bytes::Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get("https://example.com/")
            .body(body)
            .unwrap();
        let sent = http
            .hooks
            .send_request(request, None, Box::new(async { Ok(()) }));
        match Pin::from(sent).await {
            Err(wasmtime_wasi_http::Error::HttpRequestDenied) => {}
            Err(other) => panic!("refused with {other:?}, not HttpRequestDenied"),
            Ok(_) => panic!("a request was sent"),
        }
    }
}

//! A stage that tries the network through `wasi:http` (as `fetch()` in a JavaScript stage
//! does): it builds a GET request for `https://example.com/` (or, with the config
//! `{"authority": "HOST:PORT"}`, for `http://HOST:PORT/`) and sends it with
//! `outgoing-handler.handle`. compose links `wasi:http` deny-only, so the call, or the response
//! future it returns, must come back as `error-code.HTTP-request-denied`; the stage reports what
//! it got as a finding, and fails (with an `err`) if a response ever arrived.
//!
//! Imports `wasi:http/types`, `wasi:http/outgoing-handler` (the WIT vendored in
//! `wit/`, wasi:http 0.2.12) and `log`.

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::log::{Level, log};
use bindings::okd::compose::release::Payload;
use bindings::wasi::http::outgoing_handler::handle;
use bindings::wasi::http::types::{ErrorCode, Fields, Method, OutgoingRequest, Scheme};

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world http-caller {
                import wasi:http/outgoing-handler@0.2.12;
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: ["../../../wit/deps/okd-compose@0.1.0", "wit"],
        world: "okd-test:guest/http-caller",
        generate_all,
    });

    use super::HttpCaller;
    export!(HttpCaller);
}

struct HttpCaller;

impl Guest for HttpCaller {
    fn describe() -> Info {
        Info {
            name: "guest-http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Tries an outgoing HTTP request and reports how it was refused".into(),
            config_schema: None,
        }
    }

    fn run(config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?;
        let (scheme, authority) = match config.get("authority").and_then(|a| a.as_str()) {
            Some(authority) => (Scheme::Http, authority.to_owned()),
            None => (Scheme::Https, "example.com".to_owned()),
        };
        let url = format!(
            "{}://{authority}/",
            if matches!(scheme, Scheme::Http) {
                "http"
            } else {
                "https"
            }
        );
        let headers = Fields::from_list(&[("user-agent".to_string(), b"guest-http".to_vec())])
            .map_err(|e| format!("fields: {e:?}"))?;
        let request = OutgoingRequest::new(headers);
        let set = [
            request.set_method(&Method::Get),
            request.set_scheme(Some(&scheme)),
            request.set_authority(Some(&authority)),
            request.set_path_with_query(Some("/")),
        ];
        if set.iter().any(Result::is_err) {
            return Err("the host refused to build the request".into());
        }
        let body = request.body().is_ok();
        // A host may refuse at once, or hand out a future that resolves to the refusal.
        let code = match handle(request, None) {
            Err(code) => code,
            Ok(response) => {
                response.subscribe().block();
                match response.get() {
                    Some(Ok(Err(code))) => code,
                    _ => return Err("the host accepted an outgoing HTTP request".into()),
                }
            }
        };
        log(Level::Info, &format!("guest-http: refused with {code:?}"));
        Ok(vec![Finding {
            check: "http-denied".into(),
            passed: matches!(code, ErrorCode::HttpRequestDenied),
            severity: Severity::Error,
            subject: Some(url),
            message: format!("outgoing-handler.handle: {code:?}; body stream: {body}"),
        }])
    }
}

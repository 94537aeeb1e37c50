//! Deny-only `wasi:http` for stages: the interfaces link, no request ever leaves.
//!
//! JavaScript components built with componentize-js import `wasi:http/types` and
//! `wasi:http/outgoing-handler` whether or not the script uses `fetch`. Without these
//! interfaces such a component would not link at all. compose links its own small
//! implementation instead of a real HTTP client:
//!
//! - `outgoing-handler.handle` always answers `error-code.HTTP-request-denied`, so `fetch()` in a
//!   stage rejects and nothing reaches the network (there is no network code behind it);
//! - `fields`, `outgoing-request`, `request-options` and `outgoing-response` are plain values
//!   in the store, so a guest can build a request only to have it refused;
//! - `outgoing-request.body` and `outgoing-response.body` return an error: no body stream is
//!   ever handed out;
//! - the resources only a host can create (incoming requests and responses, bodies, futures,
//!   response out-params) never exist in a stage; a call on one traps.
//!
//! The WIT is vendored in `wit-deny/` (wasi:http 0.2.12). A component built against any
//! `wasi:http@0.2.x` links against it (wasmtime matches imports by semver compatibility).

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::host::StageState;

/// The bindings of the vendored `wasi:http` WIT, with the guest-creatable resources mapped to
/// the plain values below and `wasi:io` / `wasi:clocks` shared with wasmtime-wasi.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit-deny",
        world: "compose:deny/http",
        imports: { default: trappable },
        require_store_data_send: true,
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:http/types.fields": super::Fields,
            "wasi:http/types.outgoing-request": super::OutgoingRequest,
            "wasi:http/types.request-options": super::RequestOptions,
            "wasi:http/types.outgoing-response": super::OutgoingResponse,
        },
    });
}

use bindings::wasi::http::{outgoing_handler, types};
use types::{ErrorCode, HeaderError, Method, Scheme};

/// The answer to every outgoing request.
pub const DENIED: &str = "wasi:http is linked with every request denied (HTTP-request-denied)";

/// Header fields: a list of name/value pairs, immutable once attached to a request.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    entries: Vec<(String, Vec<u8>)>,
    immutable: bool,
}

/// A request a guest built. It can only be refused.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    headers: Fields,
    method: Method,
    path_with_query: Option<String>,
    scheme: Option<Scheme>,
    authority: Option<String>,
}

/// Request options a guest built (timeouts, in nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    connect: Option<u64>,
    first_byte: Option<u64>,
    between_bytes: Option<u64>,
}

/// A response a guest built (only an incoming handler could send one; stages have none).
#[derive(Debug, Clone)]
pub struct OutgoingResponse {
    headers: Fields,
    status: u16,
}

/// Links the deny-only `wasi:http/types` and `wasi:http/outgoing-handler`.
pub(crate) fn add_to_linker(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    types::add_to_linker::<_, HasSelf<_>>(linker, &types::LinkOptions::default(), |s| s)?;
    outgoing_handler::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}

/// The trap for a call on a resource a stage can never hold.
fn never(what: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "wasi:http `{what}` cannot exist in a compose stage: {DENIED}"
    ))
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl StageState {
    fn fields(&self, r: &Resource<Fields>) -> wasmtime::Result<&Fields> {
        Ok(self.table.get(r)?)
    }

    fn fields_mut(&mut self, r: &Resource<Fields>) -> wasmtime::Result<&mut Fields> {
        Ok(self.table.get_mut(r)?)
    }

    /// A new immutable `fields` handle holding a copy of `fields`.
    fn immutable_copy(&mut self, fields: &Fields) -> wasmtime::Result<Resource<Fields>> {
        let mut copy = fields.clone();
        copy.immutable = true;
        Ok(self.table.push(copy)?)
    }

    fn mutable_fields(&mut self, r: &Resource<Fields>) -> wasmtime::Result<Option<&mut Fields>> {
        let fields = self.fields_mut(r)?;
        Ok((!fields.immutable).then_some(fields))
    }
}

impl types::Host for StageState {
    fn http_error_code(
        &mut self,
        _err: Resource<types::IoError>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        Ok(None)
    }
}

impl types::HostFields for StageState {
    fn new(&mut self) -> wasmtime::Result<Resource<Fields>> {
        Ok(self.table.push(Fields::default())?)
    }

    fn from_list(
        &mut self,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<Resource<Fields>, HeaderError>> {
        if entries.iter().any(|(name, _)| name.is_empty()) {
            return Ok(Err(HeaderError::InvalidSyntax));
        }
        let fields = Fields {
            entries,
            immutable: false,
        };
        Ok(Ok(self.table.push(fields)?))
    }

    fn get(&mut self, r: Resource<Fields>, name: String) -> wasmtime::Result<Vec<Vec<u8>>> {
        let name = lower(&name);
        Ok(self
            .fields(&r)?
            .entries
            .iter()
            .filter(|(n, _)| lower(n) == name)
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn has(&mut self, r: Resource<Fields>, name: String) -> wasmtime::Result<bool> {
        let name = lower(&name);
        Ok(self
            .fields(&r)?
            .entries
            .iter()
            .any(|(n, _)| lower(n) == name))
    }

    fn set(
        &mut self,
        r: Resource<Fields>,
        name: String,
        values: Vec<Vec<u8>>,
    ) -> wasmtime::Result<Result<(), HeaderError>> {
        let Some(fields) = self.mutable_fields(&r)? else {
            return Ok(Err(HeaderError::Immutable));
        };
        let key = lower(&name);
        fields.entries.retain(|(n, _)| lower(n) != key);
        fields
            .entries
            .extend(values.into_iter().map(|v| (name.clone(), v)));
        Ok(Ok(()))
    }

    fn delete(
        &mut self,
        r: Resource<Fields>,
        name: String,
    ) -> wasmtime::Result<Result<(), HeaderError>> {
        let Some(fields) = self.mutable_fields(&r)? else {
            return Ok(Err(HeaderError::Immutable));
        };
        let key = lower(&name);
        fields.entries.retain(|(n, _)| lower(n) != key);
        Ok(Ok(()))
    }

    fn append(
        &mut self,
        r: Resource<Fields>,
        name: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), HeaderError>> {
        let Some(fields) = self.mutable_fields(&r)? else {
            return Ok(Err(HeaderError::Immutable));
        };
        fields.entries.push((name, value));
        Ok(Ok(()))
    }

    fn entries(&mut self, r: Resource<Fields>) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        Ok(self.fields(&r)?.entries.clone())
    }

    fn clone(&mut self, r: Resource<Fields>) -> wasmtime::Result<Resource<Fields>> {
        let mut copy = self.fields(&r)?.clone();
        copy.immutable = false;
        Ok(self.table.push(copy)?)
    }

    fn drop(&mut self, r: Resource<Fields>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl types::HostOutgoingRequest for StageState {
    fn new(&mut self, headers: Resource<Fields>) -> wasmtime::Result<Resource<OutgoingRequest>> {
        let mut headers = self.table.delete(headers)?;
        headers.immutable = true;
        let request = OutgoingRequest {
            headers,
            method: Method::Get,
            path_with_query: None,
            scheme: None,
            authority: None,
        };
        Ok(self.table.push(request)?)
    }

    fn body(
        &mut self,
        _r: Resource<OutgoingRequest>,
    ) -> wasmtime::Result<Result<Resource<types::OutgoingBody>, ()>> {
        Ok(Err(()))
    }

    fn method(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Method> {
        Ok(self.table.get(&r)?.method.clone())
    }

    fn set_method(
        &mut self,
        r: Resource<OutgoingRequest>,
        method: Method,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.method = method;
        Ok(Ok(()))
    }

    fn path_with_query(
        &mut self,
        r: Resource<OutgoingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&r)?.path_with_query.clone())
    }

    fn set_path_with_query(
        &mut self,
        r: Resource<OutgoingRequest>,
        path: Option<String>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.path_with_query = path;
        Ok(Ok(()))
    }

    fn scheme(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Option<Scheme>> {
        Ok(self.table.get(&r)?.scheme.clone())
    }

    fn set_scheme(
        &mut self,
        r: Resource<OutgoingRequest>,
        scheme: Option<Scheme>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.scheme = scheme;
        Ok(Ok(()))
    }

    fn authority(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&r)?.authority.clone())
    }

    fn set_authority(
        &mut self,
        r: Resource<OutgoingRequest>,
        authority: Option<String>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.authority = authority;
        Ok(Ok(()))
    }

    fn headers(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Resource<Fields>> {
        let headers = self.table.get(&r)?.headers.clone();
        self.immutable_copy(&headers)
    }

    fn drop(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl types::HostRequestOptions for StageState {
    fn new(&mut self) -> wasmtime::Result<Resource<RequestOptions>> {
        Ok(self.table.push(RequestOptions::default())?)
    }

    fn connect_timeout(&mut self, r: Resource<RequestOptions>) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&r)?.connect)
    }

    fn set_connect_timeout(
        &mut self,
        r: Resource<RequestOptions>,
        duration: Option<u64>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.connect = duration;
        Ok(Ok(()))
    }

    fn first_byte_timeout(&mut self, r: Resource<RequestOptions>) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&r)?.first_byte)
    }

    fn set_first_byte_timeout(
        &mut self,
        r: Resource<RequestOptions>,
        duration: Option<u64>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.first_byte = duration;
        Ok(Ok(()))
    }

    fn between_bytes_timeout(
        &mut self,
        r: Resource<RequestOptions>,
    ) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&r)?.between_bytes)
    }

    fn set_between_bytes_timeout(
        &mut self,
        r: Resource<RequestOptions>,
        duration: Option<u64>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&r)?.between_bytes = duration;
        Ok(Ok(()))
    }

    fn drop(&mut self, r: Resource<RequestOptions>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl types::HostOutgoingResponse for StageState {
    fn new(&mut self, headers: Resource<Fields>) -> wasmtime::Result<Resource<OutgoingResponse>> {
        let mut headers = self.table.delete(headers)?;
        headers.immutable = true;
        Ok(self.table.push(OutgoingResponse {
            headers,
            status: 200,
        })?)
    }

    fn status_code(&mut self, r: Resource<OutgoingResponse>) -> wasmtime::Result<u16> {
        Ok(self.table.get(&r)?.status)
    }

    fn set_status_code(
        &mut self,
        r: Resource<OutgoingResponse>,
        status: u16,
    ) -> wasmtime::Result<Result<(), ()>> {
        if !(100..=599).contains(&status) {
            return Ok(Err(()));
        }
        self.table.get_mut(&r)?.status = status;
        Ok(Ok(()))
    }

    fn headers(&mut self, r: Resource<OutgoingResponse>) -> wasmtime::Result<Resource<Fields>> {
        let headers = self.table.get(&r)?.headers.clone();
        self.immutable_copy(&headers)
    }

    fn body(
        &mut self,
        _r: Resource<OutgoingResponse>,
    ) -> wasmtime::Result<Result<Resource<types::OutgoingBody>, ()>> {
        Ok(Err(()))
    }

    fn drop(&mut self, r: Resource<OutgoingResponse>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl types::HostOutgoingBody for StageState {
    fn write(
        &mut self,
        _r: Resource<types::OutgoingBody>,
    ) -> wasmtime::Result<Result<Resource<types::OutputStream>, ()>> {
        Err(never("outgoing-body"))
    }

    fn finish(
        &mut self,
        _r: Resource<types::OutgoingBody>,
        _trailers: Option<Resource<Fields>>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        Err(never("outgoing-body"))
    }

    fn drop(&mut self, _r: Resource<types::OutgoingBody>) -> wasmtime::Result<()> {
        Err(never("outgoing-body"))
    }
}

impl types::HostIncomingRequest for StageState {
    fn method(&mut self, _r: Resource<types::IncomingRequest>) -> wasmtime::Result<Method> {
        Err(never("incoming-request"))
    }

    fn path_with_query(
        &mut self,
        _r: Resource<types::IncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        Err(never("incoming-request"))
    }

    fn scheme(&mut self, _r: Resource<types::IncomingRequest>) -> wasmtime::Result<Option<Scheme>> {
        Err(never("incoming-request"))
    }

    fn authority(
        &mut self,
        _r: Resource<types::IncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        Err(never("incoming-request"))
    }

    fn headers(
        &mut self,
        _r: Resource<types::IncomingRequest>,
    ) -> wasmtime::Result<Resource<Fields>> {
        Err(never("incoming-request"))
    }

    fn consume(
        &mut self,
        _r: Resource<types::IncomingRequest>,
    ) -> wasmtime::Result<Result<Resource<types::IncomingBody>, ()>> {
        Err(never("incoming-request"))
    }

    fn drop(&mut self, _r: Resource<types::IncomingRequest>) -> wasmtime::Result<()> {
        Err(never("incoming-request"))
    }
}

impl types::HostResponseOutparam for StageState {
    fn send_informational(
        &mut self,
        _param: Resource<types::ResponseOutparam>,
        _status: u16,
        _headers: Resource<Fields>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        Err(never("response-outparam"))
    }

    fn set(
        &mut self,
        _param: Resource<types::ResponseOutparam>,
        _response: Result<Resource<OutgoingResponse>, ErrorCode>,
    ) -> wasmtime::Result<()> {
        Err(never("response-outparam"))
    }

    fn drop(&mut self, _r: Resource<types::ResponseOutparam>) -> wasmtime::Result<()> {
        Err(never("response-outparam"))
    }
}

impl types::HostIncomingResponse for StageState {
    fn status(&mut self, _r: Resource<types::IncomingResponse>) -> wasmtime::Result<u16> {
        Err(never("incoming-response"))
    }

    fn headers(
        &mut self,
        _r: Resource<types::IncomingResponse>,
    ) -> wasmtime::Result<Resource<Fields>> {
        Err(never("incoming-response"))
    }

    fn consume(
        &mut self,
        _r: Resource<types::IncomingResponse>,
    ) -> wasmtime::Result<Result<Resource<types::IncomingBody>, ()>> {
        Err(never("incoming-response"))
    }

    fn drop(&mut self, _r: Resource<types::IncomingResponse>) -> wasmtime::Result<()> {
        Err(never("incoming-response"))
    }
}

impl types::HostIncomingBody for StageState {
    fn stream(
        &mut self,
        _r: Resource<types::IncomingBody>,
    ) -> wasmtime::Result<Result<Resource<types::InputStream>, ()>> {
        Err(never("incoming-body"))
    }

    fn finish(
        &mut self,
        _r: Resource<types::IncomingBody>,
    ) -> wasmtime::Result<Resource<types::FutureTrailers>> {
        Err(never("incoming-body"))
    }

    fn drop(&mut self, _r: Resource<types::IncomingBody>) -> wasmtime::Result<()> {
        Err(never("incoming-body"))
    }
}

impl types::HostFutureTrailers for StageState {
    fn subscribe(
        &mut self,
        _r: Resource<types::FutureTrailers>,
    ) -> wasmtime::Result<Resource<types::Pollable>> {
        Err(never("future-trailers"))
    }

    #[allow(clippy::type_complexity)]
    fn get(
        &mut self,
        _r: Resource<types::FutureTrailers>,
    ) -> wasmtime::Result<Option<Result<Result<Option<Resource<Fields>>, ErrorCode>, ()>>> {
        Err(never("future-trailers"))
    }

    fn drop(&mut self, _r: Resource<types::FutureTrailers>) -> wasmtime::Result<()> {
        Err(never("future-trailers"))
    }
}

impl types::HostFutureIncomingResponse for StageState {
    fn subscribe(
        &mut self,
        _r: Resource<types::FutureIncomingResponse>,
    ) -> wasmtime::Result<Resource<types::Pollable>> {
        Err(never("future-incoming-response"))
    }

    #[allow(clippy::type_complexity)]
    fn get(
        &mut self,
        _r: Resource<types::FutureIncomingResponse>,
    ) -> wasmtime::Result<Option<Result<Result<Resource<types::IncomingResponse>, ErrorCode>, ()>>>
    {
        Err(never("future-incoming-response"))
    }

    fn drop(&mut self, _r: Resource<types::FutureIncomingResponse>) -> wasmtime::Result<()> {
        Err(never("future-incoming-response"))
    }
}

impl outgoing_handler::Host for StageState {
    fn handle(
        &mut self,
        request: Resource<OutgoingRequest>,
        options: Option<Resource<RequestOptions>>,
    ) -> wasmtime::Result<Result<Resource<types::FutureIncomingResponse>, ErrorCode>> {
        let request = self.table.delete(request)?;
        if let Some(options) = options {
            self.table.delete(options)?;
        }
        let scheme = match &request.scheme {
            Some(Scheme::Http) => "http",
            Some(Scheme::Https) | None => "https",
            Some(Scheme::Other(other)) => other.as_str(),
        };
        tracing::warn!(
            stage = self.stage.as_str(),
            plugin = self.plugin.as_str(),
            "denied an outgoing HTTP request to {scheme}://{}{}: stages have no network",
            request.authority.as_deref().unwrap_or(""),
            request.path_with_query.as_deref().unwrap_or("")
        );
        Ok(Err(ErrorCode::HttpRequestDenied))
    }
}

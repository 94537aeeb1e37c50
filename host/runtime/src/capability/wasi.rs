//! The WASI basics every stage has: clocks, randomness, streams, its stdout and stderr (captured
//! to the log), and an empty environment and argument list. Sockets are linked with every
//! network operation denied. Files are the [`super::files`] capability's.

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;

use super::StageState;
use super::Verdict;
use crate::output::GuestOutput;

/// The verdict on a WASI import, if this capability owns it.
pub(crate) fn judge(base: &str) -> Option<Verdict> {
    let family = base.split('/').next().unwrap_or(base);
    Some(match family {
        "wasi:cli" if base == "wasi:cli/environment" => {
            Verdict::granted("empty environment and arguments")
        }
        "wasi:cli" if base == "wasi:cli/exit" => Verdict::granted("always"),
        "wasi:cli" => Verdict::granted("stdio captured to the log"),
        "wasi:io" | "wasi:clocks" | "wasi:random" => Verdict::granted("always"),
        "wasi:sockets" => Verdict::granted("linked with every network operation denied"),
        _ => return None,
    })
}

/// Links WASI 0.2 (wasmtime-wasi links its interfaces, `wasi:filesystem` included, as one).
pub(crate) fn link(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)
}

/// The WASI context of a stage before its grants: stdout and stderr into `output`, no network,
/// no environment, no arguments, no directories.
pub(crate) fn context(output: &GuestOutput) -> WasiCtxBuilder {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(output.stdout())
        .stderr(output.stderr())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    wasi
}

//! `compose validate STREAM`.

use crate::args::StreamArgs;
use crate::commands::load_stream;
use crate::output::Output;

/// Validates the stream file and says so.
pub fn execute(args: &StreamArgs, output: &Output) -> anyhow::Result<()> {
    let stream = load_stream(&args.stream)?;
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "valid",
            "stream": stream.name,
            "release": stream.release,
            "stages": stream.stages.iter().map(|s| &s.name).collect::<Vec<_>>(),
        }));
    } else {
        output.data(&format!(
            "{}: stream `{}` is valid ({} stage{})\n",
            args.stream.display(),
            stream.name,
            stream.stages.len(),
            if stream.stages.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

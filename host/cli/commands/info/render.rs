//! How `compose info` shows a release as text: the tables of images, components, sizes and
//! commits, and the human units they use.

use super::*;

/// Aligns cells the way Go's `text/tabwriter` does with oc's settings (minimum width 0,
/// padding 1, spaces): every cell but a row's last is padded to its column's widest cell
/// plus one space; the last cell is written as it is.
pub(super) fn tabulate(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = cell.chars().count() + 1;
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            text.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0) - cell.chars().count();
                text.push_str(&" ".repeat(pad));
            }
        }
        text.push('\n');
    }
    text
}

/// The text view, laid out as `oc adm release info` lays it out. `now` (seconds since the
/// epoch) dates the `--size` ages.
pub(super) fn describe(
    image: &ReleaseImage,
    location: &str,
    versions: &BTreeMap<String, ComponentVersion>,
    view: View,
    fetched: Option<&(BTreeMap<String, ComponentImage>, Vec<String>)>,
    now: u64,
) -> String {
    let release = &image.release;
    let (os, arch) = platform(&image.config);
    let mut text = String::new();
    let mut line = |s: &str| {
        text.push_str(s);
        text.push('\n');
    };
    line(&format!("Name:           {}", release.name));
    line(&format!("Digest:         {}", image.digest));
    line(&format!("Created:        {}", release.created));
    line(&format!("OS/Arch:        {os}/{arch}"));
    line(&format!("Manifests:      {}", release.manifests.len()));
    line("");
    line(&format!("Pull From: {location}@{}", image.digest));
    line("");
    line("Release Metadata:");
    line(&format!("  Version:  {}", release.metadata.version));
    if release.metadata.previous.is_empty() {
        line("  Upgrades: <none>");
    } else {
        line(&format!(
            "  Upgrades: {}",
            release.metadata.previous.join(", ")
        ));
    }
    let metadata: Vec<Vec<String>> = release
        .metadata
        .metadata
        .iter()
        .filter(|(_, v)| !is_empty_value(v))
        .map(|(key, value)| {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            vec![format!("    {key}:"), value]
        })
        .collect();
    line("  Metadata:");
    text.push_str(&tabulate(&metadata));
    if !versions.is_empty() {
        text.push('\n');
        text.push_str("Component Versions:\n");
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|(k, v)| vec![format!("  {k}"), v.version.clone(), v.display_name.clone()])
            .collect();
        text.push_str(&tabulate(&rows));
    }
    text.push_str("\nImages:\n");
    let images = release.images.values();
    let rows: Vec<Vec<String>> = match view {
        View::Digests => std::iter::once(vec!["  NAME".to_string(), "DIGEST".to_string()])
            .chain(images.map(|i| {
                vec![
                    format!("  {}", i.name),
                    digest_of(&i.pullspec).unwrap_or(&i.pullspec).to_string(),
                ]
            }))
            .collect(),
        View::Pullspecs => std::iter::once(vec!["  NAME".to_string(), "PULL SPEC".to_string()])
            .chain(images.map(|i| vec![format!("  {}", i.name), i.pullspec.clone()]))
            .collect(),
        View::Commits => std::iter::once(
            ["  NAME", "REPO", "COMMIT", ""]
                .map(str::to_string)
                .to_vec(),
        )
        .chain(images.map(|i| {
            vec![
                format!("  {}", i.name),
                annotation(i, SOURCE_LOCATION_ANNOTATION).to_string(),
                annotation(i, COMMIT_ID_ANNOTATION).to_string(),
            ]
        }))
        .collect(),
        View::CommitUrls => std::iter::once(["  NAME", "URL", ""].map(str::to_string).to_vec())
            .chain(images.map(|i| {
                vec![
                    format!("  {}", i.name),
                    commit_url(
                        annotation(i, SOURCE_LOCATION_ANNOTATION),
                        annotation(i, COMMIT_ID_ANNOTATION),
                    ),
                ]
            }))
            .collect(),
        View::Size => {
            let empty = BTreeMap::new();
            let found = fetched.map_or(&empty, |(found, _)| found);
            let (rows, total) = size_rows(release, found, now);
            text.push_str(&tabulate(&rows));
            text.push('\n');
            text.push_str(&total);
            text.push('\n');
            Vec::new()
        }
    };
    text.push_str(&tabulate(&rows));
    if let Some((_, warnings)) = fetched.filter(|(_, w)| !w.is_empty()) {
        text.push_str("\nWarnings:\n");
        for warning in warnings {
            text.push_str(&format!("* {warning}\n"));
        }
    }
    text.push('\n');
    text
}

/// An annotation of a tag, empty when absent.
pub(super) fn annotation<'a>(image: &'a compose_payload::Image, key: &str) -> &'a str {
    image.annotations.get(key).map_or("", String::as_str)
}

/// Whether oc leaves a metadata value out: an empty string, list or map.
pub(super) fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `--commit-urls`: `https://github.com/ORG/REPO/commit/COMMIT` for a GitHub source, else
/// `LOCATION COMMIT`, as oc writes it. `git@github.com:ORG/REPO` counts as GitHub.
pub(super) fn commit_url(location: &str, commit: &str) -> String {
    let (host, path) = if let Some((_, rest)) = location.split_once("://") {
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or(host);
        (host, path.to_string())
    } else if let Some((user_host, path)) = location.split_once(':')
        && let Some((user, host)) = user_host.split_once('@')
        && !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        (host, path)
    } else {
        ("", String::new())
    };
    if host == "github.com" {
        format!("https://github.com{path}/commit/{commit}")
    } else {
        format!("{location} {commit}")
    }
}

/// The `--size` table (oc's columns: NAME, AGE, LAYERS, SIZE MB, UNIQUE MB and, with several
/// base layers, BASE) and the total line.
pub(super) fn size_rows(
    release: &Release,
    found: &BTreeMap<String, ComponentImage>,
    now: u64,
) -> (Vec<Vec<String>>, String) {
    let mut layer_count: HashMap<&str, usize> = HashMap::new();
    let mut base_layer: HashMap<&str, usize> = HashMap::new();
    let mut total: u64 = 0;
    for image in found.values() {
        for (i, layer) in image.manifest.layers.iter().enumerate() {
            if i == 0 {
                base_layer.insert(&layer.digest, 0);
            }
            let count = layer_count.entry(&layer.digest).or_insert(0);
            if *count == 0 {
                total += layer.size;
            }
            *count += 1;
        }
    }
    let several_bases = base_layer.len() > 1;
    let bases = base_layer.len();
    let mut rows = vec![vec![
        "  NAME".to_string(),
        " AGE".to_string(),
        " LAYERS".to_string(),
        " SIZE MB".to_string(),
        " UNIQUE MB".to_string(),
        format!(" {}", if several_bases { "BASE" } else { "" }),
    ]];
    let mut covered: HashSet<&str> = HashSet::new();
    let mut current_base = 1;
    let mb = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
    for tag in release.images.values() {
        let Some(image) = found.get(&tag.name) else {
            rows.push(vec![
                format!("  {}", tag.name),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            continue;
        };
        let layers = &image.manifest.layers;
        let mut base = String::new();
        if several_bases
            && let Some(first) = layers.first()
            && let Some(index) = base_layer.get_mut(first.digest.as_str())
        {
            if *index == 0 {
                *index = current_base;
                current_base += 1;
            }
            base = if bases <= 5 {
                let letter = char::from(b'A' + u8::try_from(*index - 1).unwrap_or(0));
                format!("{}{letter}", " ".repeat(*index - 1))
            } else {
                index.to_string()
            };
        }
        let size: u64 = layers.iter().map(|l| l.size).sum();
        let mut unshared: u64 = layers
            .iter()
            .filter(|l| layer_count.get(l.digest.as_str()).copied().unwrap_or(0) <= 1)
            .map(|l| l.size)
            .sum();
        if unshared == 0
            && let Some(top) = layers.last()
            && covered.insert(&top.digest)
        {
            unshared = top.size;
        }
        let age = image
            .config
            .as_ref()
            .and_then(|c| c.get("created"))
            .and_then(Value::as_str)
            .and_then(created_secs)
            .map(|created| short_human_duration(now as i64 - created as i64))
            .unwrap_or_default();
        rows.push(vec![
            format!("  {}", tag.name),
            format!("{age:>4}"),
            format!("{:>7}", layers.len()),
            format!("{:>8.1}", mb(size)),
            format!("{:>10.1}", mb(unshared)),
            format!(" {base}"),
        ]);
    }
    let total_line = if several_bases {
        format!(
            "  {} across {} layers, {} different base images",
            human_size(total),
            layer_count.len(),
            base_layer.len()
        )
    } else {
        format!(
            "  {} across {} layers",
            human_size(total),
            layer_count.len()
        )
    };
    (rows, total_line)
}

/// Seconds since the epoch of an image config's `created` (RFC 3339; fractions and offsets
/// beyond the seconds are ignored).
pub(super) fn created_secs(text: &str) -> Option<u64> {
    let seconds = text.get(..19)?;
    compose_payload::timestamp::parse_rfc3339_utc(&format!("{seconds}Z")).ok()
}

/// Kubernetes' `ShortHumanDuration`: `5s`, `3m`, `2h`, `4d`, `1y`.
pub(super) fn short_human_duration(seconds: i64) -> String {
    match seconds {
        s if s < -1 => "<invalid>".to_string(),
        s if s < 0 => "0s".to_string(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 86_400 * 365 => format!("{}d", s / 86_400),
        s => format!("{}y", s / 86_400 / 365),
    }
}

/// docker/go-units `HumanSize`: decimal units, four significant digits (`1.235GB`).
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let digits = if size >= 1.0 {
        size.log10().floor() as i32 + 1
    } else {
        1
    };
    let decimals = usize::try_from(4 - digits).unwrap_or(0);
    let mut number = format!("{size:.decimals$}");
    if number.contains('.') {
        number = number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
    }
    format!("{number}{}", UNITS[unit])
}

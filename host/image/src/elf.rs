//! Just enough ELF to know a binary runs on the minimal base: a 64-bit little-endian
//! executable with no `PT_INTERP` program header (statically linked), and the OCI
//! architecture of its `e_machine`.
//!
//! A static-PIE executable (what Rust's musl targets link by default) is `ET_DYN` without
//! `PT_INTERP`; a shared library is told apart from it by its zero entry point.
//!
//! The headers are read with the `object` crate (the version and features wasmtime already
//! builds, so it costs no compile); this module only judges what they say.

use std::path::Path;

use object::LittleEndian;
use object::elf::{
    ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_AARCH64, EM_X86_64, ET_DYN, ET_EXEC, FileHeader64,
    PT_INTERP,
};
use object::read::elf::{FileHeader as _, ProgramHeader as _};

use crate::error::{Error, Result};

/// What the image needs to know about a static executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticExecutable {
    /// The OCI architecture: `amd64` or `arm64`.
    pub architecture: &'static str,
    /// The ELF machine name: `x86-64` or `AArch64`.
    pub machine: &'static str,
    /// Whether it is a static-PIE (`ET_DYN`) rather than a fixed-address (`ET_EXEC`) one.
    pub pie: bool,
}

/// Checks that `bytes` (the file `path`) is a static x86-64 or AArch64 ELF executable.
pub fn check_static(path: &Path, bytes: &[u8]) -> Result<StaticExecutable> {
    if !bytes.starts_with(&ELFMAG) {
        return Err(Error::NotElf {
            path: path.to_path_buf(),
        });
    }
    let bad = |reason: String| Error::BadElf {
        path: path.to_path_buf(),
        reason,
    };
    // The class and byte order first, so a 32-bit or big-endian file is named as such
    // rather than as the library's generic "Unsupported ELF header".
    let (raw, _) = object::pod::from_bytes::<FileHeader64<LittleEndian>>(bytes).map_err(|()| {
        bad(format!(
            "its ELF header is truncated ({} bytes)",
            bytes.len()
        ))
    })?;
    let ident = raw.e_ident;
    if ident.class != ELFCLASS64 {
        return Err(bad("it is a 32-bit ELF file (64-bit needed)".to_string()));
    }
    if ident.data != ELFDATA2LSB {
        return Err(bad(
            "it is a big-endian ELF file (little-endian needed)".to_string()
        ));
    }
    let header = FileHeader64::<LittleEndian>::parse(bytes)
        .map_err(|e| bad(format!("its ELF header cannot be read: {e}")))?;
    let endian = LittleEndian;
    let e_type = header.e_type(endian);
    match e_type {
        ET_EXEC => {}
        ET_DYN if header.e_entry(endian) != 0 => {}
        ET_DYN => return Err(bad("it is a shared library, not an executable".to_string())),
        other => return Err(bad(format!("its ELF type is {other}, not an executable"))),
    }
    let program_headers = header.program_headers(endian, bytes).map_err(|e| {
        bad(format!(
            "it is truncated or malformed ({e}: its program headers at byte {} do not fit its {} bytes)",
            header.e_phoff(endian),
            bytes.len()
        ))
    })?;
    if let Some(interp) = program_headers
        .iter()
        .find(|ph| ph.p_type(endian) == PT_INTERP)
    {
        let raw = interp
            .data(endian, bytes)
            .map_err(|()| bad("its PT_INTERP points past the end of the file".to_string()))?;
        let name = raw.split(|b| *b == 0).next().unwrap_or_default();
        return Err(Error::Dynamic {
            path: path.to_path_buf(),
            interpreter: String::from_utf8_lossy(name).into_owned(),
        });
    }
    let (architecture, machine) = match header.e_machine(endian) {
        EM_X86_64 => ("amd64", "x86-64"),
        EM_AARCH64 => ("arm64", "AArch64"),
        other => {
            return Err(Error::UnsupportedMachine {
                path: path.to_path_buf(),
                machine: other,
                name: match other {
                    3 => "i386",
                    8 => "MIPS",
                    20 => "PowerPC",
                    21 => "PowerPC64",
                    22 => "s390x",
                    40 => "ARM",
                    243 => "RISC-V",
                    _ => "unknown",
                },
            });
        }
    };
    Ok(StaticExecutable {
        architecture,
        machine,
        pie: e_type == ET_DYN,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The size of a 64-bit ELF header.
    const EHDR_SIZE: usize = size_of::<FileHeader64<LittleEndian>>();
    /// The size of a 64-bit program header.
    const PHDR_SIZE: usize = size_of::<object::elf::ProgramHeader64<LittleEndian>>();

    /// A minimal 64-bit little-endian ELF executable for `machine`: the header, one
    /// `PT_LOAD`, and with `interp` a `PT_INTERP` naming it.
    pub(crate) fn tiny_elf(machine: u16, e_type: u16, interp: Option<&str>) -> Vec<u8> {
        let phnum: u16 = if interp.is_some() { 2 } else { 1 };
        let mut out = vec![0u8; EHDR_SIZE];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // ELFDATA2LSB
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&e_type.to_le_bytes());
        out[18..20].copy_from_slice(&machine.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes()); // e_entry
        out[32..40].copy_from_slice(&(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
        out[52..54].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        out[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        out[56..58].copy_from_slice(&phnum.to_le_bytes());
        let strings_at = EHDR_SIZE + PHDR_SIZE * usize::from(phnum);
        let mut phdr = |p_type: u32, offset: u64, size: u64| {
            let mut h = vec![0u8; PHDR_SIZE];
            h[..4].copy_from_slice(&p_type.to_le_bytes());
            h[8..16].copy_from_slice(&offset.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            h[40..48].copy_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&h);
        };
        if let Some(interp) = interp {
            phdr(PT_INTERP, strings_at as u64, interp.len() as u64 + 1);
        }
        phdr(1, 0, strings_at as u64); // PT_LOAD
        if let Some(interp) = interp {
            out.extend_from_slice(interp.as_bytes());
            out.push(0);
        }
        out
    }

    #[test]
    fn a_static_executable_passes_with_its_architecture() {
        let path = Path::new("compose");
        let x86 = check_static(path, &tiny_elf(EM_X86_64, ET_EXEC, None)).unwrap();
        assert_eq!(
            (x86.architecture, x86.machine, x86.pie),
            ("amd64", "x86-64", false)
        );
        let arm = check_static(path, &tiny_elf(EM_AARCH64, ET_DYN, None)).unwrap();
        assert_eq!((arm.architecture, arm.pie), ("arm64", true));
    }

    #[test]
    fn a_dynamic_executable_is_refused_naming_its_interpreter() {
        let bytes = tiny_elf(EM_X86_64, ET_DYN, Some("/lib64/ld-linux-x86-64.so.2"));
        let err = check_static(Path::new("target/release/compose"), &bytes).unwrap_err();
        assert!(
            matches!(&err, Error::Dynamic { interpreter, .. } if interpreter == "/lib64/ld-linux-x86-64.so.2"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("`target/release/compose` is dynamically linked"),
            "{text}"
        );
        assert!(text.contains("/lib64/ld-linux-x86-64.so.2"), "{text}");
        assert!(
            text.contains(
                "cargo build --profile dist --target x86_64-unknown-linux-musl --bin compose"
            ),
            "{text}"
        );
        assert!(
            text.contains("target/x86_64-unknown-linux-musl/dist/compose"),
            "{text}"
        );
    }

    /// The test executable itself: a real, dynamically linked glibc binary.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_real_dynamic_binary_is_refused_and_passes_without_its_interpreter() {
        let exe = std::env::current_exe().unwrap();
        let mut bytes = std::fs::read(&exe).unwrap();
        let err = check_static(&exe, &bytes).unwrap_err();
        let Error::Dynamic { interpreter, .. } = &err else {
            panic!("not refused as dynamic: {err:?}");
        };
        // The loader that is running this very test.
        assert!(interpreter.contains("ld-"), "{interpreter}");
        assert!(Path::new(interpreter).is_file(), "{interpreter}");
        assert!(err.to_string().contains(interpreter.as_str()), "{err}");

        // The same bytes with its PT_INTERP header made PT_NULL read as a static-PIE of the
        // architecture this test runs on.
        let phoff = usize::try_from(u64::from_le_bytes(bytes[32..40].try_into().unwrap())).unwrap();
        let phnum = usize::from(u16::from_le_bytes(bytes[56..58].try_into().unwrap()));
        let interp_at = (0..phnum)
            .map(|i| phoff + i * PHDR_SIZE)
            .find(|&at| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == PT_INTERP)
            .unwrap();
        bytes[interp_at..interp_at + 4].fill(0);
        let found = check_static(&exe, &bytes).unwrap();
        let expected = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        assert_eq!((found.architecture, found.pie), (expected, true));

        // Cut inside its program headers: refused as truncated, not read past the end.
        bytes.truncate(phoff + PHDR_SIZE / 2);
        let err = check_static(&exe, &bytes).unwrap_err();
        assert!(matches!(err, Error::BadElf { .. }), "{err:?}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn other_files_are_refused() {
        let path = Path::new("README.md");
        let err = check_static(path, b"# compose\n").unwrap_err();
        assert!(matches!(err, Error::NotElf { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("`README.md` is not an ELF executable")
        );
        assert!(matches!(
            check_static(path, b"\x7fELF\x02\x01").unwrap_err(),
            Error::BadElf { .. }
        ));
        let mut shared = tiny_elf(EM_X86_64, ET_DYN, None);
        shared[24..32].fill(0); // no entry point: a shared library
        let err = check_static(path, &shared).unwrap_err();
        assert!(err.to_string().contains("shared library"), "{err}");
        let mut bits32 = tiny_elf(EM_X86_64, ET_EXEC, None);
        bits32[4] = 1;
        assert!(
            check_static(path, &bits32)
                .unwrap_err()
                .to_string()
                .contains("32-bit")
        );
        let err = check_static(path, &tiny_elf(22, ET_EXEC, None)).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedMachine { machine: 22, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("s390x"), "{err}");
        // A program header table past the end of the file.
        let mut cut = tiny_elf(EM_X86_64, ET_EXEC, None);
        cut.truncate(EHDR_SIZE + 10);
        assert!(
            check_static(path, &cut)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
    }
}

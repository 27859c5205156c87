//! The entrypoint of a dataset image: a static Linux program that exits 0 and does nothing else,
//! written here as an ELF file of about 130 bytes (one header, one loadable segment, three
//! instructions), for the engine's architecture.
//!
//! A dataset image is `FROM scratch`, so it has no shell and no `true`; but its init service must
//! start and exit 0 (see `finetune_compose::data_image`). Copying the trainer binary in (13 MB)
//! for that would dwarf small datasets, and building a program needs a toolchain for the engine's
//! architecture; these few bytes need neither.

/// Where the program sits in the image.
pub const PATH: &str = "/.finetune/noop";

/// Where the segment is loaded: the classic non-PIE base, 64 KiB-aligned for every page size.
const BASE: u64 = 0x40_0000;
const EHDR: u16 = 64;
const PHDR: u16 = 56;

/// The program for an engine architecture as `docker info` names it (`x86_64`, `aarch64`), or
/// `None` for one it does not cover.
pub fn program(arch: &str) -> Option<Vec<u8>> {
    // exit(0): the exit syscall with status 0.
    let (machine, code): (u16, &[u8]) = match arch {
        // mov eax, 60; xor edi, edi; syscall
        "x86_64" | "amd64" => (0x3e, &[0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]),
        // mov x0, #0; mov x8, #93; svc #0
        "aarch64" | "arm64" => (
            0xb7,
            &[
                0x00, 0x00, 0x80, 0xd2, 0xa8, 0x0b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4,
            ],
        ),
        _ => return None,
    };
    let size = u64::from(EHDR + PHDR) + code.len() as u64;
    let mut elf = Vec::with_capacity(size as usize);
    // e_ident: magic, 64-bit, little-endian, version 1, System V ABI, padding.
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(BASE + u64::from(EHDR + PHDR)).to_le_bytes()); // e_entry
    elf.extend_from_slice(&u64::from(EHDR).to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no sections
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for half in [EHDR, PHDR, 1, 0, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        elf.extend_from_slice(&half.to_le_bytes());
    }
    // The one program header: the whole file, readable and executable, at BASE.
    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R + X
    for word in [0, BASE, BASE, size, size, 0x1_0000] {
        // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(code);
    Some(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_a_well_formed_elf_for_each_architecture() {
        for (arch, machine) in [("x86_64", 0x3e), ("aarch64", 0xb7)] {
            let elf = program(arch).unwrap();
            assert_eq!(&elf[..4], b"\x7fELF");
            assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), machine);
            let entry = u64::from_le_bytes(elf[24..32].try_into().unwrap());
            // The entry point is the first instruction, right after the headers.
            assert_eq!(entry - BASE, 120);
            let filesz = u64::from_le_bytes(elf[96..104].try_into().unwrap());
            assert_eq!(filesz, elf.len() as u64);
        }
        assert!(program("s390x").is_none());
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn the_x86_64_program_runs_and_exits_0() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("noop");
        std::fs::write(&p, program("x86_64").unwrap()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread forking while the file was open for writing can make it "busy"
        // for a moment (ETXTBSY).
        let status = (0..50)
            .find_map(|_| match std::process::Command::new(&p).status() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                }
                other => Some(other.unwrap()),
            })
            .expect("the program stayed busy");
        assert!(status.success(), "{status}");
    }
}

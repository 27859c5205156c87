//! Messages on stderr: `error:`/`hint:`/`warning:`/`note:` prefixes, coloured only when stderr
//! is a terminal and `NO_COLOR` is unset. Data goes to stdout elsewhere, never through here.

use std::io::IsTerminal;

/// Whether to colour stderr.
pub fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Whether stderr is a terminal (progress bars) or a log (plain lines).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

fn paint(prefix: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{prefix}\x1b[0m")
    } else {
        prefix.to_string()
    }
}

pub fn error(msg: impl std::fmt::Display) {
    eprintln!("{} {msg}", paint("error:", "1;31"));
}

pub fn hint(msg: impl std::fmt::Display) {
    eprintln!("{} {msg}", paint("hint:", "1;36"));
}

pub fn warn(msg: impl std::fmt::Display) {
    eprintln!("{} {msg}", paint("warning:", "1;33"));
}

pub fn note(msg: impl std::fmt::Display) {
    eprintln!("{} {msg}", paint("note:", "1;34"));
}

pub fn caused_by(msg: impl std::fmt::Display) {
    eprintln!("  {} {msg}", paint("caused by:", "2"));
}

/// A status line of `up`/`build`/`down` (`[+] ...`).
pub fn status(msg: impl std::fmt::Display) {
    eprintln!("{msg}");
}

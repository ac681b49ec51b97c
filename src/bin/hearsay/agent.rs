//! `hearsay agent`: one node, controlled through a local socket.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("agent: not built yet".into())
}

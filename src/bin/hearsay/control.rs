//! Control commands against a running agent.

pub fn run(command: &str, _args: &[String]) -> Result<(), String> {
    Err(format!("{command}: not built yet"))
}

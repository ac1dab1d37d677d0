//! Issue 13, the command line as a user's manual: the top-level help and every command without subcommands end
//! with examples of that command, and `tollgate completions SHELL` prints a script the shell
//! would load.

use std::process::Command;

fn help(path: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate")).args(path).arg("--help").output().unwrap();
    assert!(output.status.success(), "tollgate {path:?} --help: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn every_command_has_examples_in_its_help() {
    let mut pending: Vec<Vec<String>> = vec![vec![]];
    let mut leaves = 0;
    while let Some(path) = pending.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let children = subcommands(&text);
        if children.is_empty() || path.is_empty() {
            leaves += usize::from(!path.is_empty());
            let example = format!("  tollgate {}", args.join(" "));
            assert!(text.contains("Example"), "`tollgate {} --help` has no example:\n{text}", args.join(" "));
            assert!(text.contains(example.trim_end()), "its examples show the command ({example}): {text}");
        }
        pending.extend(children.into_iter().map(|child| path.iter().cloned().chain([child]).collect()));
    }
    assert!(leaves >= 35, "the walk reached every leaf command ({leaves})");
}

#[test]
fn completions_print_a_script_for_each_shell() {
    for (shell, marker) in
        [("bash", "complete -F _tollgate"), ("zsh", "#compdef tollgate"), ("fish", "complete -c tollgate")]
    {
        let output = Command::new(env!("CARGO_BIN_EXE_tollgate")).args(["completions", shell]).output().unwrap();
        assert!(output.status.success());
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(300)]);
        for word in ["exchange", "revocations", "promote", "completions"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate")).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "an unknown shell is a usage error");
}

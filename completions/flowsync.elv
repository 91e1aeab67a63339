
use builtin;
use str;

set edit:completion:arg-completer[flowsync] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'flowsync'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'flowsync'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Provision this host: config, user, directories, units, database, certificate, start, doctor'
            cand serve 'Run the server: web app, REST API, health, metrics and the expiry sweeper'
            cand migrate 'Apply or inspect database migrations'
            cand reload 'Have the running server re-read its configuration, and wait until it has'
            cand rooms 'List, show or end rooms (operator view)'
            cand backup 'Back up the database, config and certificates into one verified archive; verify or list archives'
            cand restore 'Restore an archive into an empty database (SQLite or PostgreSQL)'
            cand cert 'Make or inspect the TLS certificate serve presents'
            cand doctor 'Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint'
            cand bench 'Drive a running server with simulated participants and measure it (load generator)'
            cand completions 'Print shell completions (bash, zsh, fish, elvish, powershell)'
            cand manpages 'Write man pages into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;init'= {
            cand --prefix 'Root every path (config, data, backups, units) under DIR; accounts and systemd are left alone'
            cand --domain 'The name people open (required with --yes unless --tls off)'
            cand --email 'Contact address for the ACME account (required with --yes and --tls acme)'
            cand --database 'sqlite, local-postgres (create a role and database on this host''s PostgreSQL), or a postgres:// URL'
            cand --local-db-name 'Role and database name for --database local-postgres'
            cand --redis 'none (state in-process, one instance) or a redis:// URL'
            cand --tls 'How HTTPS is provided'
            cand --turn 'TURN relay for participants behind strict NATs and firewalls'
            cand --turn-url 'A turn:/turns:/stun: URL of your coturn (repeatable; --turn external)'
            cand --turn-secret 'coturn''s static-auth-secret (generated when omitted; copy it into coturn)'
            cand --http-listen 'HTTP listener (ACME HTTP-01 and the redirect to HTTPS)'
            cand --https-listen 'HTTPS listener'
            cand --create-policy 'Who may create rooms'
            cand --acme-directory 'ACME directory URL (default Let''s Encrypt production)'
            cand --acme-ca-root 'PEM root to trust for a private ACME directory'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --print-example 'Print the commented example configuration (every key at its default) and exit'
            cand -y 'Unattended: take every answer from flags and defaults, ask nothing'
            cand --yes 'Unattended: take every answer from flags and defaults, ask nothing'
            cand --force 'Apply changes to an existing config without asking (secrets are still kept)'
            cand --dry-run 'Show what each step would do; write nothing'
            cand --no-systemd 'Do not install or enable systemd units'
            cand --no-start 'Do not start the service'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;serve'= {
            cand --listen 'Address to listen on (server.http_listen)'
            cand --data-dir 'Data directory (server.data_dir)'
            cand --database-url 'Database URL (database.url)'
            cand --redis-url 'Redis URL for shared state (redis.url)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --print-config 'Print the effective configuration with the source of each value (secrets masked) and exit'
            cand --no-backup 'Migrate without taking a backup first (by default a database with data is backed up into backup.dir before pending migrations run)'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;migrate'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --status 'List applied and pending migrations and exit'
            cand --dry-run 'Show what would be applied without changing the database'
            cand --json 'Machine-readable output'
            cand --no-backup 'Do not back up a database with data before migrating it'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;reload'= {
            cand --pid 'The server''s process id (default: systemd''s main PID of flowsync.service)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'Machine-readable outcome'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List rooms'
            cand show 'Show one room and its participants, or with --today its record of the day'
            cand create 'Create a room (no participant yet: the first to arrive becomes host)'
            cand standing 'Make an open room standing, or change its slug or chat retention'
            cand host-link 'Show a standing room''s host link (whoever opens it becomes host)'
            cand create-link 'Show the team''s create link (rooms.create_policy = "link")'
            cand end 'End a room for everyone in it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;rooms;list'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --all 'Include ended and expired rooms (tombstones)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;show'= {
            cand --date 'The record of this day instead (YYYY-MM-DD)'
            cand --utc-offset 'The day''s time zone as an offset from UTC (+02:00, -05:00; default UTC)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --today 'The room''s record of today: work blocks, goals and check-ins, streaks'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;create'= {
            cand --name 'The room''s name'
            cand --slug 'The readable link''s slug (standing rooms; default: made from the name)'
            cand --retention-days 'Days a standing room keeps its chat (default 30)'
            cand --max-participants 'Seats (default and upper bound: rooms.max_participants)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --standing 'A standing room: never expires by idleness, readable link /r/SLUG, a host link'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;standing'= {
            cand --slug 'slug'
            cand --retention-days 'retention-days'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;host-link'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --rotate 'Make a new host link; the old one stops working'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;create-link'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --rotate 'Make a new create link; the old one stops working'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;end'= {
            cand --server 'Base URL of the running server, reached with FLOWSYNC_ADMIN_TOKEN (default: the admin socket in server.data_dir, then server.http_listen)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;rooms;help'= {
            cand list 'List rooms'
            cand show 'Show one room and its participants, or with --today its record of the day'
            cand create 'Create a room (no participant yet: the first to arrive becomes host)'
            cand standing 'Make an open room standing, or change its slug or chat retention'
            cand host-link 'Show a standing room''s host link (whoever opens it becomes host)'
            cand create-link 'Show the team''s create link (rooms.create_policy = "link")'
            cand end 'End a room for everyone in it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;rooms;help;list'= {
        }
        &'flowsync;rooms;help;show'= {
        }
        &'flowsync;rooms;help;create'= {
        }
        &'flowsync;rooms;help;standing'= {
        }
        &'flowsync;rooms;help;host-link'= {
        }
        &'flowsync;rooms;help;create-link'= {
        }
        &'flowsync;rooms;help;end'= {
        }
        &'flowsync;rooms;help;help'= {
        }
        &'flowsync;backup'= {
            cand --output 'Directory for the archive (default backup.dir), or a file path ending in .tar.gz / .age'
            cand --encrypt-with 'Encrypt the archive (age, scrypt) with the passphrase in FILE (first line)'
            cand --keep 'Archives to keep in the directory (backup.keep)'
            cand --keep-daily 'Also keep the newest archive of each of the last N days (backup.keep_daily)'
            cand --keep-weekly 'Also keep the newest archive of each of the last N weeks (backup.keep_weekly)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --include-secrets 'Include generated secrets, secret config keys and TLS private keys (backup.include_secrets)'
            cand --json 'Print the result as JSON'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand verify 'Check an archive: manifest, every checksum, row and row count, and a test restore'
            cand list 'List the archives in backup.dir with age, size and verification state'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;backup;verify'= {
            cand --passphrase-file 'Passphrase file for an encrypted archive'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --quick 'Skip the test restore into a scratch SQLite database (which checks keys, references and required fields the way a restore will)'
            cand --restore-test 'The test restore is the default now; accepted for existing scripts'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;backup;list'= {
            cand --dir 'Directory to list (default backup.dir)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;backup;help'= {
            cand verify 'Check an archive: manifest, every checksum, row and row count, and a test restore'
            cand list 'List the archives in backup.dir with age, size and verification state'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;backup;help;verify'= {
        }
        &'flowsync;backup;help;list'= {
        }
        &'flowsync;backup;help;help'= {
        }
        &'flowsync;restore'= {
            cand --passphrase-file 'Passphrase file for an encrypted archive'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --force 'Replace a database that holds data (it is backed up into backup.dir first)'
            cand --restore-config 'Also write the archived config file to the config path in use (--config or /etc/flowsync/flowsync.toml)'
            cand --restore-tls 'Also write the archived certificates into <data_dir>/tls'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;cert'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand issue 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)'
            cand renew 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)'
            cand import 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)'
            cand self-signed 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)'
            cand status 'Show the configured certificate: issuer, names, validity, days left'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;cert;issue'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --staging 'Use Let''s Encrypt''s staging directory (untrusted certificates, generous rate limits)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;cert;renew'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --force 'Renew even if the certificate is not due'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;cert;import'= {
            cand --cert 'PEM certificate chain (leaf first)'
            cand --key 'PEM private key of that certificate'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --force 'Replace a previously imported certificate'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;cert;self-signed'= {
            cand --name 'A DNS name or IP address to cover (repeatable; default tls.domains, else localhost, 127.0.0.1 and ::1)'
            cand --days 'Validity in days'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;cert;status'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'json'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;cert;help'= {
            cand issue 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)'
            cand renew 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)'
            cand import 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)'
            cand self-signed 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)'
            cand status 'Show the configured certificate: issuer, names, validity, days left'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;cert;help;issue'= {
        }
        &'flowsync;cert;help;renew'= {
        }
        &'flowsync;cert;help;import'= {
        }
        &'flowsync;cert;help;self-signed'= {
        }
        &'flowsync;cert;help;status'= {
        }
        &'flowsync;cert;help;help'= {
        }
        &'flowsync;doctor'= {
            cand --run 'Run only this check (repeatable; names from --list)'
            cand --report 'Also write a shareable Markdown report (secrets masked) to FILE'
            cand --timeout 'Deadline of each check'
            cand --prefix 'Install root, as given to `flowsync init --prefix` (where units are looked for)'
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --json 'Print one JSON document (schema in docs/operating/doctor.md) instead of lines'
            cand --list 'List the checks and exit'
            cand --fix 'Apply the safe fixes of failing checks, then check again'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;bench'= {
            cand --url 'The FlowSync to drive (http:// or https://; certificates are not verified)'
            cand --also-url 'Another instance of the same deployment (repeatable): each room''s participants are spread over --url and these in turn, so signaling crosses instances (scale-out)'
            cand --rooms 'Rooms to create'
            cand --per-room 'Participants per room (2-10)'
            cand --duration 'How long to measure, once everyone is connected'
            cand --rate 'Signaling messages (offer/answer/ICE) per second per room'
            cand --connect-rate 'New connections per second (ramp)'
            cand --candidates 'ICE candidates each side sends per peer pair when someone joins (0: no join burst)'
            cand --sdp-bytes 'SDP size of offers and answers, in bytes'
            cand --chat-rate 'Chat messages per second per room'
            cand --churn 'media-state / raise-hand changes per second per room'
            cand --timer-every 'The host of each room changes the timer this often (start, then skip)'
            cand --rest-rate 'REST requests per second while measuring (room lookups, message pages, posted messages)'
            cand --join-rate 'Background joins per minute while connecting and measuring: newcomers join extra rooms over REST, connect, negotiate with whoever is there (--candidates), stay 5 s and leave; timed as "background join"'
            cand --slow-percent 'Percentage of participants that stop reading when the measurement starts (slow consumers)'
            cand --source-ip 'Source address for connections (repeatable; spread round-robin)'
            cand --server-pid 'The server''s pid, to sample its memory and CPU (found by its port when it is local)'
            cand --slo 'A threshold the run must meet (repeatable), e.g. ''p99<5ms'''
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand --idle 'Hold the sockets with heartbeats only (no traffic)'
            cand --reconnect 'Reconnect lost connections as browsers do and time it (server restarts); chat messages the server acknowledged are looked up over REST at the end'
            cand --json 'Print one JSON document instead of the table'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;completions'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;manpages'= {
            cand --config 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)'
            cand -v 'More log output (-v debug, -vv trace)'
            cand --verbose 'More log output (-v debug, -vv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flowsync;help'= {
            cand init 'Provision this host: config, user, directories, units, database, certificate, start, doctor'
            cand serve 'Run the server: web app, REST API, health, metrics and the expiry sweeper'
            cand migrate 'Apply or inspect database migrations'
            cand reload 'Have the running server re-read its configuration, and wait until it has'
            cand rooms 'List, show or end rooms (operator view)'
            cand backup 'Back up the database, config and certificates into one verified archive; verify or list archives'
            cand restore 'Restore an archive into an empty database (SQLite or PostgreSQL)'
            cand cert 'Make or inspect the TLS certificate serve presents'
            cand doctor 'Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint'
            cand bench 'Drive a running server with simulated participants and measure it (load generator)'
            cand completions 'Print shell completions (bash, zsh, fish, elvish, powershell)'
            cand manpages 'Write man pages into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flowsync;help;init'= {
        }
        &'flowsync;help;serve'= {
        }
        &'flowsync;help;migrate'= {
        }
        &'flowsync;help;reload'= {
        }
        &'flowsync;help;rooms'= {
            cand list 'List rooms'
            cand show 'Show one room and its participants, or with --today its record of the day'
            cand create 'Create a room (no participant yet: the first to arrive becomes host)'
            cand standing 'Make an open room standing, or change its slug or chat retention'
            cand host-link 'Show a standing room''s host link (whoever opens it becomes host)'
            cand create-link 'Show the team''s create link (rooms.create_policy = "link")'
            cand end 'End a room for everyone in it'
        }
        &'flowsync;help;rooms;list'= {
        }
        &'flowsync;help;rooms;show'= {
        }
        &'flowsync;help;rooms;create'= {
        }
        &'flowsync;help;rooms;standing'= {
        }
        &'flowsync;help;rooms;host-link'= {
        }
        &'flowsync;help;rooms;create-link'= {
        }
        &'flowsync;help;rooms;end'= {
        }
        &'flowsync;help;backup'= {
            cand verify 'Check an archive: manifest, every checksum, row and row count, and a test restore'
            cand list 'List the archives in backup.dir with age, size and verification state'
        }
        &'flowsync;help;backup;verify'= {
        }
        &'flowsync;help;backup;list'= {
        }
        &'flowsync;help;restore'= {
        }
        &'flowsync;help;cert'= {
            cand issue 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)'
            cand renew 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)'
            cand import 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)'
            cand self-signed 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)'
            cand status 'Show the configured certificate: issuer, names, validity, days left'
        }
        &'flowsync;help;cert;issue'= {
        }
        &'flowsync;help;cert;renew'= {
        }
        &'flowsync;help;cert;import'= {
        }
        &'flowsync;help;cert;self-signed'= {
        }
        &'flowsync;help;cert;status'= {
        }
        &'flowsync;help;doctor'= {
        }
        &'flowsync;help;bench'= {
        }
        &'flowsync;help;completions'= {
        }
        &'flowsync;help;manpages'= {
        }
        &'flowsync;help;help'= {
        }
    ]
    $completions[$command]
}

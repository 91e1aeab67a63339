
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'flowsync' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'flowsync'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'flowsync' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Provision this host: config, user, directories, units, database, certificate, start, doctor')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the server: web app, REST API, health, metrics and the expiry sweeper')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Apply or inspect database migrations')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Have the running server re-read its configuration, and wait until it has')
            [CompletionResult]::new('rooms', 'rooms', [CompletionResultType]::ParameterValue, 'List, show or end rooms (operator view)')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Back up the database, config and certificates into one verified archive; verify or list archives')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Restore an archive into an empty database (SQLite or PostgreSQL)')
            [CompletionResult]::new('cert', 'cert', [CompletionResultType]::ParameterValue, 'Make or inspect the TLS certificate serve presents')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Drive a running server with simulated participants and measure it (load generator)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions (bash, zsh, fish, elvish, powershell)')
            [CompletionResult]::new('manpages', 'manpages', [CompletionResultType]::ParameterValue, 'Write man pages into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;init' {
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Root every path (config, data, backups, units) under DIR; accounts and systemd are left alone')
            [CompletionResult]::new('--domain', '--domain', [CompletionResultType]::ParameterName, 'The name people open (required with --yes unless --tls off)')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'Contact address for the ACME account (required with --yes and --tls acme)')
            [CompletionResult]::new('--database', '--database', [CompletionResultType]::ParameterName, 'sqlite, local-postgres (create a role and database on this host''s PostgreSQL), or a postgres:// URL')
            [CompletionResult]::new('--local-db-name', '--local-db-name', [CompletionResultType]::ParameterName, 'Role and database name for --database local-postgres')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'none (state in-process, one instance) or a redis:// URL')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'How HTTPS is provided')
            [CompletionResult]::new('--turn', '--turn', [CompletionResultType]::ParameterName, 'TURN relay for participants behind strict NATs and firewalls')
            [CompletionResult]::new('--turn-url', '--turn-url', [CompletionResultType]::ParameterName, 'A turn:/turns:/stun: URL of your coturn (repeatable; --turn external)')
            [CompletionResult]::new('--turn-secret', '--turn-secret', [CompletionResultType]::ParameterName, 'coturn''s static-auth-secret (generated when omitted; copy it into coturn)')
            [CompletionResult]::new('--http-listen', '--http-listen', [CompletionResultType]::ParameterName, 'HTTP listener (ACME HTTP-01 and the redirect to HTTPS)')
            [CompletionResult]::new('--https-listen', '--https-listen', [CompletionResultType]::ParameterName, 'HTTPS listener')
            [CompletionResult]::new('--create-policy', '--create-policy', [CompletionResultType]::ParameterName, 'Who may create rooms')
            [CompletionResult]::new('--acme-directory', '--acme-directory', [CompletionResultType]::ParameterName, 'ACME directory URL (default Let''s Encrypt production)')
            [CompletionResult]::new('--acme-ca-root', '--acme-ca-root', [CompletionResultType]::ParameterName, 'PEM root to trust for a private ACME directory')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--print-example', '--print-example', [CompletionResultType]::ParameterName, 'Print the commented example configuration (every key at its default) and exit')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Unattended: take every answer from flags and defaults, ask nothing')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Unattended: take every answer from flags and defaults, ask nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Apply changes to an existing config without asking (secrets are still kept)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what each step would do; write nothing')
            [CompletionResult]::new('--no-systemd', '--no-systemd', [CompletionResultType]::ParameterName, 'Do not install or enable systemd units')
            [CompletionResult]::new('--no-start', '--no-start', [CompletionResultType]::ParameterName, 'Do not start the service')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on (server.http_listen)')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Data directory (server.data_dir)')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database URL (database.url)')
            [CompletionResult]::new('--redis-url', '--redis-url', [CompletionResultType]::ParameterName, 'Redis URL for shared state (redis.url)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--print-config', '--print-config', [CompletionResultType]::ParameterName, 'Print the effective configuration with the source of each value (secrets masked) and exit')
            [CompletionResult]::new('--no-backup', '--no-backup', [CompletionResultType]::ParameterName, 'Migrate without taking a backup first (by default a database with data is backed up into backup.dir before pending migrations run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;migrate' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'List applied and pending migrations and exit')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be applied without changing the database')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable output')
            [CompletionResult]::new('--no-backup', '--no-backup', [CompletionResultType]::ParameterName, 'Do not back up a database with data before migrating it')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;reload' {
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'The server''s process id (default: systemd''s main PID of flowsync.service)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable outcome')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List rooms')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one room and its participants, or with --today its record of the day')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a room (no participant yet: the first to arrive becomes host)')
            [CompletionResult]::new('standing', 'standing', [CompletionResultType]::ParameterValue, 'Make an open room standing, or change its slug or chat retention')
            [CompletionResult]::new('host-link', 'host-link', [CompletionResultType]::ParameterValue, 'Show a standing room''s host link (whoever opens it becomes host)')
            [CompletionResult]::new('create-link', 'create-link', [CompletionResultType]::ParameterValue, 'Show the team''s create link (rooms.create_policy = "link")')
            [CompletionResult]::new('end', 'end', [CompletionResultType]::ParameterValue, 'End a room for everyone in it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;rooms;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Include ended and expired rooms (tombstones)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;show' {
            [CompletionResult]::new('--date', '--date', [CompletionResultType]::ParameterName, 'The record of this day instead (YYYY-MM-DD)')
            [CompletionResult]::new('--utc-offset', '--utc-offset', [CompletionResultType]::ParameterName, 'The day''s time zone as an offset from UTC (+02:00, -05:00; default UTC)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--today', '--today', [CompletionResultType]::ParameterName, 'The room''s record of today: work blocks, goals and check-ins, streaks')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;create' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The room''s name')
            [CompletionResult]::new('--slug', '--slug', [CompletionResultType]::ParameterName, 'The readable link''s slug (standing rooms; default: made from the name)')
            [CompletionResult]::new('--retention-days', '--retention-days', [CompletionResultType]::ParameterName, 'Days a standing room keeps its chat (default 30)')
            [CompletionResult]::new('--max-participants', '--max-participants', [CompletionResultType]::ParameterName, 'Seats (default and upper bound: rooms.max_participants)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--standing', '--standing', [CompletionResultType]::ParameterName, 'A standing room: never expires by idleness, readable link /r/SLUG, a host link')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;standing' {
            [CompletionResult]::new('--slug', '--slug', [CompletionResultType]::ParameterName, 'slug')
            [CompletionResult]::new('--retention-days', '--retention-days', [CompletionResultType]::ParameterName, 'retention-days')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;host-link' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--rotate', '--rotate', [CompletionResultType]::ParameterName, 'Make a new host link; the old one stops working')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;create-link' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--rotate', '--rotate', [CompletionResultType]::ParameterName, 'Make a new create link; the old one stops working')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;end' {
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Base URL of the running server, reached with FLOWSYNC_ADMIN_TOKEN (default: the admin socket in server.data_dir, then server.http_listen)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;rooms;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List rooms')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one room and its participants, or with --today its record of the day')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a room (no participant yet: the first to arrive becomes host)')
            [CompletionResult]::new('standing', 'standing', [CompletionResultType]::ParameterValue, 'Make an open room standing, or change its slug or chat retention')
            [CompletionResult]::new('host-link', 'host-link', [CompletionResultType]::ParameterValue, 'Show a standing room''s host link (whoever opens it becomes host)')
            [CompletionResult]::new('create-link', 'create-link', [CompletionResultType]::ParameterValue, 'Show the team''s create link (rooms.create_policy = "link")')
            [CompletionResult]::new('end', 'end', [CompletionResultType]::ParameterValue, 'End a room for everyone in it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;rooms;help;list' {
            break
        }
        'flowsync;rooms;help;show' {
            break
        }
        'flowsync;rooms;help;create' {
            break
        }
        'flowsync;rooms;help;standing' {
            break
        }
        'flowsync;rooms;help;host-link' {
            break
        }
        'flowsync;rooms;help;create-link' {
            break
        }
        'flowsync;rooms;help;end' {
            break
        }
        'flowsync;rooms;help;help' {
            break
        }
        'flowsync;backup' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Directory for the archive (default backup.dir), or a file path ending in .tar.gz / .age')
            [CompletionResult]::new('--encrypt-with', '--encrypt-with', [CompletionResultType]::ParameterName, 'Encrypt the archive (age, scrypt) with the passphrase in FILE (first line)')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Archives to keep in the directory (backup.keep)')
            [CompletionResult]::new('--keep-daily', '--keep-daily', [CompletionResultType]::ParameterName, 'Also keep the newest archive of each of the last N days (backup.keep_daily)')
            [CompletionResult]::new('--keep-weekly', '--keep-weekly', [CompletionResultType]::ParameterName, 'Also keep the newest archive of each of the last N weeks (backup.keep_weekly)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--include-secrets', '--include-secrets', [CompletionResultType]::ParameterName, 'Include generated secrets, secret config keys and TLS private keys (backup.include_secrets)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check an archive: manifest, every checksum, row and row count, and a test restore')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the archives in backup.dir with age, size and verification state')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;backup;verify' {
            [CompletionResult]::new('--passphrase-file', '--passphrase-file', [CompletionResultType]::ParameterName, 'Passphrase file for an encrypted archive')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--quick', '--quick', [CompletionResultType]::ParameterName, 'Skip the test restore into a scratch SQLite database (which checks keys, references and required fields the way a restore will)')
            [CompletionResult]::new('--restore-test', '--restore-test', [CompletionResultType]::ParameterName, 'The test restore is the default now; accepted for existing scripts')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;backup;list' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Directory to list (default backup.dir)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;backup;help' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check an archive: manifest, every checksum, row and row count, and a test restore')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the archives in backup.dir with age, size and verification state')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;backup;help;verify' {
            break
        }
        'flowsync;backup;help;list' {
            break
        }
        'flowsync;backup;help;help' {
            break
        }
        'flowsync;restore' {
            [CompletionResult]::new('--passphrase-file', '--passphrase-file', [CompletionResultType]::ParameterName, 'Passphrase file for an encrypted archive')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace a database that holds data (it is backed up into backup.dir first)')
            [CompletionResult]::new('--restore-config', '--restore-config', [CompletionResultType]::ParameterName, 'Also write the archived config file to the config path in use (--config or /etc/flowsync/flowsync.toml)')
            [CompletionResult]::new('--restore-tls', '--restore-tls', [CompletionResultType]::ParameterName, 'Also write the archived certificates into <data_dir>/tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;cert' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)')
            [CompletionResult]::new('renew', 'renew', [CompletionResultType]::ParameterValue, 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)')
            [CompletionResult]::new('self-signed', 'self-signed', [CompletionResultType]::ParameterValue, 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the configured certificate: issuer, names, validity, days left')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;cert;issue' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--staging', '--staging', [CompletionResultType]::ParameterName, 'Use Let''s Encrypt''s staging directory (untrusted certificates, generous rate limits)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;cert;renew' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Renew even if the certificate is not due')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;cert;import' {
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'PEM certificate chain (leaf first)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'PEM private key of that certificate')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace a previously imported certificate')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;cert;self-signed' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'A DNS name or IP address to cover (repeatable; default tls.domains, else localhost, 127.0.0.1 and ::1)')
            [CompletionResult]::new('--days', '--days', [CompletionResultType]::ParameterName, 'Validity in days')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;cert;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;cert;help' {
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)')
            [CompletionResult]::new('renew', 'renew', [CompletionResultType]::ParameterValue, 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)')
            [CompletionResult]::new('self-signed', 'self-signed', [CompletionResultType]::ParameterValue, 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the configured certificate: issuer, names, validity, days left')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;cert;help;issue' {
            break
        }
        'flowsync;cert;help;renew' {
            break
        }
        'flowsync;cert;help;import' {
            break
        }
        'flowsync;cert;help;self-signed' {
            break
        }
        'flowsync;cert;help;status' {
            break
        }
        'flowsync;cert;help;help' {
            break
        }
        'flowsync;doctor' {
            [CompletionResult]::new('--run', '--run', [CompletionResultType]::ParameterName, 'Run only this check (repeatable; names from --list)')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Also write a shareable Markdown report (secrets masked) to FILE')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Deadline of each check')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Install root, as given to `flowsync init --prefix` (where units are looked for)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document (schema in docs/operating/doctor.md) instead of lines')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the checks and exit')
            [CompletionResult]::new('--fix', '--fix', [CompletionResultType]::ParameterName, 'Apply the safe fixes of failing checks, then check again')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;bench' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The FlowSync to drive (http:// or https://; certificates are not verified)')
            [CompletionResult]::new('--also-url', '--also-url', [CompletionResultType]::ParameterName, 'Another instance of the same deployment (repeatable): each room''s participants are spread over --url and these in turn, so signaling crosses instances (scale-out)')
            [CompletionResult]::new('--rooms', '--rooms', [CompletionResultType]::ParameterName, 'Rooms to create')
            [CompletionResult]::new('--per-room', '--per-room', [CompletionResultType]::ParameterName, 'Participants per room (2-10)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to measure, once everyone is connected')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Signaling messages (offer/answer/ICE) per second per room')
            [CompletionResult]::new('--connect-rate', '--connect-rate', [CompletionResultType]::ParameterName, 'New connections per second (ramp)')
            [CompletionResult]::new('--candidates', '--candidates', [CompletionResultType]::ParameterName, 'ICE candidates each side sends per peer pair when someone joins (0: no join burst)')
            [CompletionResult]::new('--sdp-bytes', '--sdp-bytes', [CompletionResultType]::ParameterName, 'SDP size of offers and answers, in bytes')
            [CompletionResult]::new('--chat-rate', '--chat-rate', [CompletionResultType]::ParameterName, 'Chat messages per second per room')
            [CompletionResult]::new('--churn', '--churn', [CompletionResultType]::ParameterName, 'media-state / raise-hand changes per second per room')
            [CompletionResult]::new('--timer-every', '--timer-every', [CompletionResultType]::ParameterName, 'The host of each room changes the timer this often (start, then skip)')
            [CompletionResult]::new('--rest-rate', '--rest-rate', [CompletionResultType]::ParameterName, 'REST requests per second while measuring (room lookups, message pages, posted messages)')
            [CompletionResult]::new('--join-rate', '--join-rate', [CompletionResultType]::ParameterName, 'Background joins per minute while connecting and measuring: newcomers join extra rooms over REST, connect, negotiate with whoever is there (--candidates), stay 5 s and leave; timed as "background join"')
            [CompletionResult]::new('--slow-percent', '--slow-percent', [CompletionResultType]::ParameterName, 'Percentage of participants that stop reading when the measurement starts (slow consumers)')
            [CompletionResult]::new('--source-ip', '--source-ip', [CompletionResultType]::ParameterName, 'Source address for connections (repeatable; spread round-robin)')
            [CompletionResult]::new('--server-pid', '--server-pid', [CompletionResultType]::ParameterName, 'The server''s pid, to sample its memory and CPU (found by its port when it is local)')
            [CompletionResult]::new('--slo', '--slo', [CompletionResultType]::ParameterName, 'A threshold the run must meet (repeatable), e.g. ''p99<5ms''')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('--idle', '--idle', [CompletionResultType]::ParameterName, 'Hold the sockets with heartbeats only (no traffic)')
            [CompletionResult]::new('--reconnect', '--reconnect', [CompletionResultType]::ParameterName, 'Reconnect lost connections as browsers do and time it (server restarts); chat messages the server acknowledged are looked up over REST at the end')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document instead of the table')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;manpages' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v debug, -vv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flowsync;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Provision this host: config, user, directories, units, database, certificate, start, doctor')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the server: web app, REST API, health, metrics and the expiry sweeper')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Apply or inspect database migrations')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Have the running server re-read its configuration, and wait until it has')
            [CompletionResult]::new('rooms', 'rooms', [CompletionResultType]::ParameterValue, 'List, show or end rooms (operator view)')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Back up the database, config and certificates into one verified archive; verify or list archives')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Restore an archive into an empty database (SQLite or PostgreSQL)')
            [CompletionResult]::new('cert', 'cert', [CompletionResultType]::ParameterValue, 'Make or inspect the TLS certificate serve presents')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Drive a running server with simulated participants and measure it (load generator)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions (bash, zsh, fish, elvish, powershell)')
            [CompletionResult]::new('manpages', 'manpages', [CompletionResultType]::ParameterValue, 'Write man pages into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flowsync;help;init' {
            break
        }
        'flowsync;help;serve' {
            break
        }
        'flowsync;help;migrate' {
            break
        }
        'flowsync;help;reload' {
            break
        }
        'flowsync;help;rooms' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List rooms')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one room and its participants, or with --today its record of the day')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a room (no participant yet: the first to arrive becomes host)')
            [CompletionResult]::new('standing', 'standing', [CompletionResultType]::ParameterValue, 'Make an open room standing, or change its slug or chat retention')
            [CompletionResult]::new('host-link', 'host-link', [CompletionResultType]::ParameterValue, 'Show a standing room''s host link (whoever opens it becomes host)')
            [CompletionResult]::new('create-link', 'create-link', [CompletionResultType]::ParameterValue, 'Show the team''s create link (rooms.create_policy = "link")')
            [CompletionResult]::new('end', 'end', [CompletionResultType]::ParameterValue, 'End a room for everyone in it')
            break
        }
        'flowsync;help;rooms;list' {
            break
        }
        'flowsync;help;rooms;show' {
            break
        }
        'flowsync;help;rooms;create' {
            break
        }
        'flowsync;help;rooms;standing' {
            break
        }
        'flowsync;help;rooms;host-link' {
            break
        }
        'flowsync;help;rooms;create-link' {
            break
        }
        'flowsync;help;rooms;end' {
            break
        }
        'flowsync;help;backup' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check an archive: manifest, every checksum, row and row count, and a test restore')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the archives in backup.dir with age, size and verification state')
            break
        }
        'flowsync;help;backup;verify' {
            break
        }
        'flowsync;help;backup;list' {
            break
        }
        'flowsync;help;restore' {
            break
        }
        'flowsync;help;cert' {
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)')
            [CompletionResult]::new('renew', 'renew', [CompletionResultType]::ParameterValue, 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)')
            [CompletionResult]::new('self-signed', 'self-signed', [CompletionResultType]::ParameterValue, 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the configured certificate: issuer, names, validity, days left')
            break
        }
        'flowsync;help;cert;issue' {
            break
        }
        'flowsync;help;cert;renew' {
            break
        }
        'flowsync;help;cert;import' {
            break
        }
        'flowsync;help;cert;self-signed' {
            break
        }
        'flowsync;help;cert;status' {
            break
        }
        'flowsync;help;doctor' {
            break
        }
        'flowsync;help;bench' {
            break
        }
        'flowsync;help;completions' {
            break
        }
        'flowsync;help;manpages' {
            break
        }
        'flowsync;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}

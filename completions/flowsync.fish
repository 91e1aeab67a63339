# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_flowsync_global_optspecs
    string join \n config= v/verbose q/quiet h/help V/version
end

function __fish_flowsync_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_flowsync_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_flowsync_using_subcommand
    set -l cmd (__fish_flowsync_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c flowsync -n "__fish_flowsync_needs_command" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_needs_command" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_needs_command" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_needs_command" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_needs_command" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "init" -d 'Provision this host: config, user, directories, units, database, certificate, start, doctor'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "serve" -d 'Run the server: web app, REST API, health, metrics and the expiry sweeper'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "migrate" -d 'Apply or inspect database migrations'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "reload" -d 'Have the running server re-read its configuration, and wait until it has'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "rooms" -d 'List, show or end rooms (operator view)'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "backup" -d 'Back up the database, config and certificates into one verified archive; verify or list archives'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "restore" -d 'Restore an archive into an empty database (SQLite or PostgreSQL)'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "cert" -d 'Make or inspect the TLS certificate serve presents'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "doctor" -d 'Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "bench" -d 'Drive a running server with simulated participants and measure it (load generator)'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell)'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "manpages" -d 'Write man pages into a directory'
complete -c flowsync -n "__fish_flowsync_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l prefix -d 'Root every path (config, data, backups, units) under DIR; accounts and systemd are left alone' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l domain -d 'The name people open (required with --yes unless --tls off)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l email -d 'Contact address for the ACME account (required with --yes and --tls acme)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l database -d 'sqlite, local-postgres (create a role and database on this host\'s PostgreSQL), or a postgres:// URL' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l local-db-name -d 'Role and database name for --database local-postgres' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l redis -d 'none (state in-process, one instance) or a redis:// URL' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l tls -d 'How HTTPS is provided' -r -f -a "acme\t'Let\'s Encrypt (or tls.acme_directory), obtained now and renewed by serve'
self-signed\t'A certificate made here (LAN, testing); browsers warn'
off\t'Plain HTTP (behind your own proxy, or localhost only)'"
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l turn -d 'TURN relay for participants behind strict NATs and firewalls' -r -f -a "off\t'No relay: calls between strict NATs or firewalls may fail'
embedded\t'The relay inside serve: UDP/TCP on 3478, TLS on the HTTPS port, relay ports 49152-65535'
external\t'Your coturn with use-auth-secret (--turn-url, --turn-secret)'"
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l turn-url -d 'A turn:/turns:/stun: URL of your coturn (repeatable; --turn external)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l turn-secret -d 'coturn\'s static-auth-secret (generated when omitted; copy it into coturn)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l http-listen -d 'HTTP listener (ACME HTTP-01 and the redirect to HTTPS)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l https-listen -d 'HTTPS listener' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l create-policy -d 'Who may create rooms' -r -f -a "link\t'Whoever has the team\'s create link (printed at the end, kept in /etc/flowsync/create-link)'
operator\t'Only the operator: `flowsync rooms create`'
open\t'Anyone who reaches the server (rate-limited per address)'"
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l acme-directory -d 'ACME directory URL (default Let\'s Encrypt production)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l acme-ca-root -d 'PEM root to trust for a private ACME directory' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l print-example -d 'Print the commented example configuration (every key at its default) and exit'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -s y -l yes -d 'Unattended: take every answer from flags and defaults, ask nothing'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l force -d 'Apply changes to an existing config without asking (secrets are still kept)'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l dry-run -d 'Show what each step would do; write nothing'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l no-systemd -d 'Do not install or enable systemd units'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -l no-start -d 'Do not start the service'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c flowsync -n "__fish_flowsync_using_subcommand init" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l listen -d 'Address to listen on (server.http_listen)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l data-dir -d 'Data directory (server.data_dir)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l database-url -d 'Database URL (database.url)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l redis-url -d 'Redis URL for shared state (redis.url)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l print-config -d 'Print the effective configuration with the source of each value (secrets masked) and exit'
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -l no-backup -d 'Migrate without taking a backup first (by default a database with data is backed up into backup.dir before pending migrations run)'
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand serve" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -l status -d 'List applied and pending migrations and exit'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -l dry-run -d 'Show what would be applied without changing the database'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -l json -d 'Machine-readable output'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -l no-backup -d 'Do not back up a database with data before migrating it'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand migrate" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -l pid -d 'The server\'s process id (default: systemd\'s main PID of flowsync.service)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -l json -d 'Machine-readable outcome'
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand reload" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "list" -d 'List rooms'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "show" -d 'Show one room and its participants, or with --today its record of the day'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "create" -d 'Create a room (no participant yet: the first to arrive becomes host)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "standing" -d 'Make an open room standing, or change its slug or chat retention'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "host-link" -d 'Show a standing room\'s host link (whoever opens it becomes host)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "create-link" -d 'Show the team\'s create link (rooms.create_policy = "link")'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "end" -d 'End a room for everyone in it'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and not __fish_seen_subcommand_from list show create standing host-link create-link end help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -l all -d 'Include ended and expired rooms (tombstones)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -l date -d 'The record of this day instead (YYYY-MM-DD)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -l utc-offset -d 'The day\'s time zone as an offset from UTC (+02:00, -05:00; default UTC)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -l today -d 'The room\'s record of today: work blocks, goals and check-ins, streaks'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l name -d 'The room\'s name' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l slug -d 'The readable link\'s slug (standing rooms; default: made from the name)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l retention-days -d 'Days a standing room keeps its chat (default 30)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l max-participants -d 'Seats (default and upper bound: rooms.max_participants)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l standing -d 'A standing room: never expires by idleness, readable link /r/SLUG, a host link'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -l slug -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -l retention-days -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from standing" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -l rotate -d 'Make a new host link; the old one stops working'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from host-link" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -l rotate -d 'Make a new create link; the old one stops working'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from create-link" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -l server -d 'Base URL of the running server, reached with FLOWSYNC_ADMIN_TOKEN (default: the admin socket in server.data_dir, then server.http_listen)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from end" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "list" -d 'List rooms'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one room and its participants, or with --today its record of the day'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a room (no participant yet: the first to arrive becomes host)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "standing" -d 'Make an open room standing, or change its slug or chat retention'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "host-link" -d 'Show a standing room\'s host link (whoever opens it becomes host)'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "create-link" -d 'Show the team\'s create link (rooms.create_policy = "link")'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "end" -d 'End a room for everyone in it'
complete -c flowsync -n "__fish_flowsync_using_subcommand rooms; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l output -d 'Directory for the archive (default backup.dir), or a file path ending in .tar.gz / .age' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l encrypt-with -d 'Encrypt the archive (age, scrypt) with the passphrase in FILE (first line)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l keep -d 'Archives to keep in the directory (backup.keep)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l keep-daily -d 'Also keep the newest archive of each of the last N days (backup.keep_daily)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l keep-weekly -d 'Also keep the newest archive of each of the last N weeks (backup.keep_weekly)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l include-secrets -d 'Include generated secrets, secret config keys and TLS private keys (backup.include_secrets)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -l json -d 'Print the result as JSON'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -f -a "verify" -d 'Check an archive: manifest, every checksum, row and row count, and a test restore'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -f -a "list" -d 'List the archives in backup.dir with age, size and verification state'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and not __fish_seen_subcommand_from verify list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -l passphrase-file -d 'Passphrase file for an encrypted archive' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -l quick -d 'Skip the test restore into a scratch SQLite database (which checks keys, references and required fields the way a restore will)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -l restore-test -d 'The test restore is the default now; accepted for existing scripts'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -l dir -d 'Directory to list (default backup.dir)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check an archive: manifest, every checksum, row and row count, and a test restore'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the archives in backup.dir with age, size and verification state'
complete -c flowsync -n "__fish_flowsync_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -l passphrase-file -d 'Passphrase file for an encrypted archive' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -l force -d 'Replace a database that holds data (it is backed up into backup.dir first)'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -l restore-config -d 'Also write the archived config file to the config path in use (--config or /etc/flowsync/flowsync.toml)'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -l restore-tls -d 'Also write the archived certificates into <data_dir>/tls'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand restore" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -f -a "issue" -d 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -f -a "renew" -d 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -f -a "import" -d 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -f -a "self-signed" -d 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -f -a "status" -d 'Show the configured certificate: issuer, names, validity, days left'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and not __fish_seen_subcommand_from issue renew import self-signed status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -l staging -d 'Use Let\'s Encrypt\'s staging directory (untrusted certificates, generous rate limits)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from issue" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -l force -d 'Renew even if the certificate is not due'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from renew" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -l cert -d 'PEM certificate chain (leaf first)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -l key -d 'PEM private key of that certificate' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -l force -d 'Replace a previously imported certificate'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -l name -d 'A DNS name or IP address to cover (repeatable; default tls.domains, else localhost, 127.0.0.1 and ::1)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -l days -d 'Validity in days' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from self-signed" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from status" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from status" -l json
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "issue" -d 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "renew" -d 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "import" -d 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "self-signed" -d 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show the configured certificate: issuer, names, validity, days left'
complete -c flowsync -n "__fish_flowsync_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l run -d 'Run only this check (repeatable; names from --list)' -r -f -a "config\t''
data-dir\t''
ownership\t''
database\t''
migrations\t''
redis\t''
certificate\t''
acme-account\t''
dns\t''
ports\t''
server\t''
turn\t''
clock\t''
open-files\t''
disk\t''
systemd\t''
backup\t''"
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l report -d 'Also write a shareable Markdown report (secrets masked) to FILE' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l timeout -d 'Deadline of each check' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l prefix -d 'Install root, as given to `flowsync init --prefix` (where units are looked for)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l json -d 'Print one JSON document (schema in docs/operating/doctor.md) instead of lines'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l list -d 'List the checks and exit'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -l fix -d 'Apply the safe fixes of failing checks, then check again'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l url -d 'The FlowSync to drive (http:// or https://; certificates are not verified)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l also-url -d 'Another instance of the same deployment (repeatable): each room\'s participants are spread over --url and these in turn, so signaling crosses instances (scale-out)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l rooms -d 'Rooms to create' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l per-room -d 'Participants per room (2-10)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l duration -d 'How long to measure, once everyone is connected' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l rate -d 'Signaling messages (offer/answer/ICE) per second per room' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l connect-rate -d 'New connections per second (ramp)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l candidates -d 'ICE candidates each side sends per peer pair when someone joins (0: no join burst)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l sdp-bytes -d 'SDP size of offers and answers, in bytes' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l chat-rate -d 'Chat messages per second per room' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l churn -d 'media-state / raise-hand changes per second per room' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l timer-every -d 'The host of each room changes the timer this often (start, then skip)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l rest-rate -d 'REST requests per second while measuring (room lookups, message pages, posted messages)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l join-rate -d 'Background joins per minute while connecting and measuring: newcomers join extra rooms over REST, connect, negotiate with whoever is there (--candidates), stay 5 s and leave; timed as "background join"' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l slow-percent -d 'Percentage of participants that stop reading when the measurement starts (slow consumers)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l source-ip -d 'Source address for connections (repeatable; spread round-robin)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l server-pid -d 'The server\'s pid, to sample its memory and CPU (found by its port when it is local)' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l slo -d 'A threshold the run must meet (repeatable), e.g. \'p99<5ms\'' -r
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l idle -d 'Hold the sockets with heartbeats only (no traffic)'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l reconnect -d 'Reconnect lost connections as browsers do and time it (server restarts); chat messages the server acknowledged are looked up over REST at the end'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -l json -d 'Print one JSON document instead of the table'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand bench" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand completions" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand completions" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand completions" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand completions" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand completions" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand manpages" -l config -d 'Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)' -r -F
complete -c flowsync -n "__fish_flowsync_using_subcommand manpages" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c flowsync -n "__fish_flowsync_using_subcommand manpages" -s q -l quiet -d 'Only errors'
complete -c flowsync -n "__fish_flowsync_using_subcommand manpages" -s h -l help -d 'Print help'
complete -c flowsync -n "__fish_flowsync_using_subcommand manpages" -s V -l version -d 'Print version'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "init" -d 'Provision this host: config, user, directories, units, database, certificate, start, doctor'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "serve" -d 'Run the server: web app, REST API, health, metrics and the expiry sweeper'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "migrate" -d 'Apply or inspect database migrations'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "reload" -d 'Have the running server re-read its configuration, and wait until it has'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "rooms" -d 'List, show or end rooms (operator view)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "backup" -d 'Back up the database, config and certificates into one verified archive; verify or list archives'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "restore" -d 'Restore an archive into an empty database (SQLite or PostgreSQL)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "cert" -d 'Make or inspect the TLS certificate serve presents'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "doctor" -d 'Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "bench" -d 'Drive a running server with simulated participants and measure it (load generator)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "manpages" -d 'Write man pages into a directory'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and not __fish_seen_subcommand_from init serve migrate reload rooms backup restore cert doctor bench completions manpages help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "list" -d 'List rooms'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "show" -d 'Show one room and its participants, or with --today its record of the day'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "create" -d 'Create a room (no participant yet: the first to arrive becomes host)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "standing" -d 'Make an open room standing, or change its slug or chat retention'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "host-link" -d 'Show a standing room\'s host link (whoever opens it becomes host)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "create-link" -d 'Show the team\'s create link (rooms.create_policy = "link")'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from rooms" -f -a "end" -d 'End a room for everyone in it'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "verify" -d 'Check an archive: manifest, every checksum, row and row count, and a test restore'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "list" -d 'List the archives in backup.dir with age, size and verification state'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "issue" -d 'Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "renew" -d 'Renew the ACME certificate when a third of its lifetime is left (or now with --force)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "import" -d 'Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "self-signed" -d 'Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)'
complete -c flowsync -n "__fish_flowsync_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "status" -d 'Show the configured certificate: issuer, names, validity, days left'

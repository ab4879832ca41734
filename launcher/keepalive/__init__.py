"""Keep-alive: every account refreshed ahead of expiry by the system's scheduler.

passes.py     one pass over every account: what is due, refreshed through renew()
foreground.py `--every`: passes in the foreground, and what SIGTERM does mid-refresh
notify.py     the conditions that need the user, told once (desktop, webhook, the log)
record.py     keepalive's own memory in wrap's state dir: the last pass, what was notified
units.py      the schedulers: systemd user timer, launchd LaunchAgent, else a crontab line
commands.py   what `wrap keepalive ...` runs (cli.py stays click only)
"""

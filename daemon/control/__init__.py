"""Remote control: everything that steers a running daemon from outside it.

    controller.py     the Controller: one lock, every request (set, model, panic, reload,
                      learn, status), whoever sent it
    socket_server.py  the control socket (a Unix socket, peer credentials checked)
    client.py         the client side: `antiphon status`, `set`, ... ask through it
    instance_lock.py  one daemon per socket: the lock, and the record of the output opened
    steering.py       DaemonControls: what the Controller and the knobs may ask of the
                      daemon, and the DaemonStatus snapshot they read
    knobs.py          a MIDI controller's knobs and program changes
    knob_commands.py  `learn` and `knobs`, carried out for the Controller
    osc*.py           OSC over UDP: messages, packets, rate limits

May import the engine, daemon.midi, daemon.play and daemon.config; never daemon.service,
the CLI or the benchmarks. The Controller steers the daemon through the small interface
the service hands it, never through the service's modules.
"""

"""A live web dashboard of a ringpop cluster (``ringpop dashboard SEED``).

It polls the nodes' TChannel admin endpoints (``/admin/stats``, ``/admin/lookup``,
``/admin/state`` where served: so ringpop-node and ringpop-go clusters work too) and
serves one page that draws the ring, the members, the checksum partitions, a timeline
and per-node charts, kept live with server-sent events. Needs aiohttp
(``pip install 'ringpop[dashboard]'``).

Modules: ``ringlayout`` (each member's stretches of the hash space), ``model`` (the
snapshot and the timeline, pure), ``poller`` (the polling loop), ``server`` (the
aiohttp app, mountable in an application's own); the page is ``static/index.html``
and ``static/dashboard.js``. The command line is :mod:`ringpop.cli.dashboard`.
"""

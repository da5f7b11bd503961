"""``hrapid``: a RAPI v2 daemon over a stored cluster, so plans can really run.

``store`` keeps the cluster description and the job queue in SQLite,
``queue`` runs jobs through a node driver, ``resources`` answers RAPI requests
as Ganeti's ``rlib2`` does, ``auth`` reads Ganeti's users file and ``server``
ties them to HTTP(S) and the command line.
"""

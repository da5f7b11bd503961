"""Carrying out plans: solutions become Ganeti jobs that run through RAPI.

``jobs`` turns hbal solutions and hail answers into jobsets of Ganeti opcodes,
``rapi_client`` speaks Ganeti's remote API, and ``runner`` submits jobsets and
follows them the way ``hbal -X`` does.
"""

"""``p3mask serve``: a local web page that makes a key, protects photos and unlocks them.

A thin layer over the library calls the CLI uses (:func:`p3mask.protect.learning.learn`,
:func:`p3mask.protect.apply.protect_files`, :func:`p3mask.protect.unlock.unlock_file`): the page adds no
second implementation of learning or protecting.

* :mod:`p3mask.web.uploads`: checks each uploaded file (size, type by content, pixels) and keeps it in
  the server's private folder.
* :mod:`p3mask.web.sessions`: one session per browser tab (its photos, key, outputs, learning job).
* :mod:`p3mask.web.work`: the model work (face preview, learning, protecting, unlocking), off the
  request thread.
* :mod:`p3mask.web.app`: the Starlette routes and the page (``page.html``, hand-written, no build step).
"""

"""GA/T 1400 (公安视频图像信息应用系统, part 4: the view library's REST/JSON interface): what a checkpoint or a
camera sends to ``/VIID`` and what it is answered, as pure functions over decoded JSON.

``messages``: the answer objects (``ResponseStatusObject`` and its list), local times, the request's
``User-Identify``, the list objects of an upload. ``records``: one uploaded object (motor vehicle, tollgate,
face, person, non-motor vehicle) checked and normalised, its ``SubImageList`` images decoded. ``auth``: the
digest challenge of ``System/Register`` with stateless nonces (any API process checks any other's).

Imports no service: storage is app/services/viid_*.py, the HTTP side app/api/routes/viid.py."""

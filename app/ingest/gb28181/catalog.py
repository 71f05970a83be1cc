"""Catalog answers (paged, assembled into one complete list; an answer missing pages is stored as far as it
goes and asked for again, see ``registry.CatalogAssembler``) and catalog NOTIFY events (ADD, UPDATE, DEL,
ON, OFF, VLOST, DEFECT) → camera rows in the store, ``camera.status`` / ``camera.deleted`` /
``gb28181.catalog`` messages.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.ingest.gb28181 import codes, manscdp, mapping
from app.ingest.gb28181.registry import Device


class Catalog:
    def _on_catalog(self, dev: Device, doc: manscdp.Document, is_notify: bool) -> None:
        page = manscdp.catalog(doc)
        if is_notify:
            self._spawn(self._locked(dev, self._catalog_events(dev, page.items)), "catalog")
            return
        if page.sum_num is not None:
            self._note(dev.device_id, catalog_sum=page.sum_num)  # the device's row (device_state.py)
        if self.catalogs.requery is None:
            self.catalogs.requery = self._requery_catalog
        items = self.catalogs.add(dev.device_id, page.sn, page.sum_num, page.items, self.now())
        if items is not None:  # with a SumNum: all of them (the assembler waits for that many)
            whole = page.sum_num is not None
            self._spawn(self._locked(dev, self._catalog_complete(dev, items, whole)), "catalog")

    def _requery_catalog(self, device_id: str) -> int | None:
        """Ask a device whose catalog answer came incomplete again (the assembler merges the new answer);
        the new query's SN, or None when the device is gone (then the assembler gives up)."""
        dev = self.registry.get(device_id)
        if dev is None or not dev.online:
            return None
        sn = self.next_sn()
        self.stats["catalog_requeries"] += 1
        self._spawn(self.request(dev, "MESSAGE", manscdp.build("Query", "Catalog", sn, dev.device_id)), "catalog")
        return sn

    async def _locked(self, dev: Device, coro) -> None:
        async with dev.lock:
            await coro

    async def _catalog_complete(self, dev: Device, items: list[manscdp.CatalogItem], whole: bool = False) -> None:
        crs = self.crs_of(dev.device_id)
        rows = [mapping.camera_row(it, dev.device_id, crs) for it in items if it.is_camera]
        for r in rows:
            dev.channels[r["gb_id"]] = r["status"]
        # A lower platform's (or NVR's) tree nodes: kept on its device row, never cameras.
        tree = {n["id"]: n for n in map(mapping.directory_node, items) if n is not None}
        self._directory_of(dev.device_id).clear()
        self._directory_of(dev.device_id).update(tree)
        self._note(dev.device_id, channel_count=len(rows), **({"directory": list(tree.values())} if tree else {}))
        self.stats["catalogs"] += 1
        result = await self.store.upsert_cameras(rows) if self.store else {"stored": [], "skipped": []}
        if self.store:
            for gb_id in result["changed"]:
                await self._publish(
                    "camera.status",
                    {"gb_id": gb_id, "status": dev.channels[gb_id], "at": datetime.now(UTC).isoformat()},
                )
            if whole and mapping.is_platform(dev.device_id):
                # A lower platform's whole catalog is its shared set: what it no longer lists was unshared
                # (maybe while the link was down, when no DEL could come). An NVR's channels stay.
                for gone in await self.store.prune_cameras(dev.device_id, [r["gb_id"] for r in rows]):
                    dev.channels.pop(gone["gb_id"], None)
                    await self._publish("camera.deleted", gone)
        await self._publish(
            "gb28181.catalog",
            {
                "device_id": dev.device_id,
                "items": len(items),
                "channels": len(rows),
                "stored": len(result["stored"]),
                "without_location": len(result["skipped"]),
            },
        )

    def _directory_of(self, device_id: str) -> dict[str, dict]:
        """The device's tree nodes by id, as its last catalog answer and events since left them."""
        if not hasattr(self, "_directories"):
            self._directories: dict[str, dict[str, dict]] = {}
        return self._directories.setdefault(device_id, {})

    def _directory_events(self, dev: Device, items: list[manscdp.CatalogItem]) -> None:
        """Tree nodes added, changed or deleted by catalog events: the device's whole directory rewritten."""
        tree, changed = self._directory_of(dev.device_id), False
        for it in items:
            node = mapping.directory_node(it)
            if node is None:
                continue
            if (it.event or "UPDATE") in ("ADD", "UPDATE"):
                changed |= tree.get(node["id"]) != node
                tree[node["id"]] = node
            elif it.event == "DEL":
                changed |= tree.pop(node["id"], None) is not None
        if changed:
            self._note(dev.device_id, directory=list(tree.values()))

    async def _catalog_events(self, dev: Device, items: list[manscdp.CatalogItem]) -> None:
        crs = self.crs_of(dev.device_id)
        upserts, deletes, status_of = [], [], {}
        self._directory_events(dev, items)
        for it in items:
            if not it.is_camera:
                continue
            ev = it.event or "UPDATE"
            if ev in ("ADD", "UPDATE"):
                upserts.append(mapping.camera_row(it, dev.device_id, crs))
            elif ev == "DEL":
                deletes.append(it.device_id)
                dev.channels.pop(it.device_id, None)
            elif ev in ("ON", "OFF", "VLOST", "DEFECT"):
                status_of.setdefault(codes.STATUS[ev], []).append(it.device_id)
        self.stats["catalog_events"] += len(items)
        for r in upserts:
            dev.channels[r["gb_id"]] = r["status"]
        for status, ids in status_of.items():
            for i in ids:
                dev.channels[i] = status
        if self.store is None:
            return
        if upserts:
            res = await self.store.upsert_cameras(upserts)
            for gb_id in res["changed"]:
                await self._publish(
                    "camera.status",
                    {"gb_id": gb_id, "status": dev.channels[gb_id], "at": datetime.now(UTC).isoformat()},
                )
        if deletes:
            # Announced with the routing fields of the rows as they were: the live feed cannot read them now.
            for gone in await self.store.delete_cameras(deletes):
                await self._publish("camera.deleted", gone)
        for status, ids in status_of.items():
            await self._publish_camera_status(await self.store.set_status(status, ids), status)

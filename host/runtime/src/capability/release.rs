//! `okd:compose/release`: the payload resource a stage reads and changes, always granted;
//! every write counts against the stage's `limits.output` and stops a read-only `check`. Also
//! `okd:compose/types`, the records the payload and the stage exports share.

use compose_payload::{Attachment, Image};
use wasmtime::component::{HasSelf, Linker, Resource};

use super::StageState;
use super::Verdict;
use crate::attachment::check_attachment;
use crate::bindings::PayloadHandle;
use crate::bindings::v0_1::okd::compose::release as v0_1;
use crate::bindings::v0_2::okd::compose0_2_0::{release as v0_2, types};
use crate::budget::{Stop, manifest_bytes};

/// The verdict on `okd:compose/<own>`, if this capability owns it.
pub(crate) fn judge(own: &str) -> Option<Verdict> {
    matches!(own, "release" | "types").then(|| Verdict::granted("always"))
}

/// Links `release` of every released version, and `types` (0.2.0 on).
pub(crate) fn link(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    v0_2::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    types::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

fn to_wit(image: &Image) -> v0_2::Image {
    v0_2::Image {
        name: image.name.clone(),
        pullspec: image.pullspec.clone(),
        annotations: image
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

impl v0_2::Host for StageState {}

impl types::Host for StageState {}

impl v0_2::HostPayload for StageState {
    fn name(&mut self, _: Resource<PayloadHandle>) -> String {
        self.release.name.clone()
    }

    fn metadata(&mut self, _: Resource<PayloadHandle>) -> String {
        serde_json::to_string(&self.release.metadata).unwrap_or_default()
    }

    fn set_metadata(
        &mut self,
        _: Resource<PayloadHandle>,
        json: String,
    ) -> wasmtime::Result<Result<(), String>> {
        self.charge("set-metadata", json.len())?;
        Ok(self
            .release
            .set_metadata_json(&json)
            .map_err(|e| e.to_string()))
    }

    fn images(&mut self, _: Resource<PayloadHandle>) -> Vec<v0_2::Image> {
        self.release.images.values().map(to_wit).collect()
    }

    fn image(&mut self, _: Resource<PayloadHandle>, name: String) -> Option<v0_2::Image> {
        self.release.images.get(&name).map(to_wit)
    }

    fn put_image(
        &mut self,
        _: Resource<PayloadHandle>,
        image: v0_2::Image,
    ) -> wasmtime::Result<Result<(), String>> {
        let size = image.name.len()
            + image.pullspec.len()
            + image
                .annotations
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        self.charge("put-image", size)?;
        Ok(self
            .release
            .put_image(Image {
                name: image.name,
                pullspec: image.pullspec,
                annotations: image.annotations.into_iter().collect(),
            })
            .map_err(|e| e.to_string()))
    }

    fn remove_image(&mut self, _: Resource<PayloadHandle>, name: String) -> wasmtime::Result<bool> {
        self.charge("remove-image", 0)?;
        Ok(self.release.images.remove(&name).is_some())
    }

    fn manifests(&mut self, _: Resource<PayloadHandle>) -> Vec<String> {
        self.release.manifests.keys().cloned().collect()
    }

    fn grep_manifests(&mut self, _: Resource<PayloadHandle>, needle: String) -> Vec<String> {
        self.release.grep_manifests(&needle)
    }

    fn read_manifest(&mut self, _: Resource<PayloadHandle>, path: String) -> Option<String> {
        self.release.manifests.get(&path).cloned()
    }

    fn write_manifest(
        &mut self,
        _: Resource<PayloadHandle>,
        path: String,
        content: String,
    ) -> wasmtime::Result<Result<(), String>> {
        self.charge("write-manifest", path.len() + content.len())?;
        if let Err(e) = compose_payload::release::validate_manifest_name(&path) {
            return Ok(Err(e.to_string()));
        }
        // What the cluster-version operator would refuse to read never enters the payload.
        if let Err(e) = compose_payload::cvo_yaml::parse_manifest(&path, content.as_bytes()) {
            return Ok(Err(e.to_string()));
        }
        Ok(self
            .release
            .write_manifest(&path, content)
            .map_err(|e| e.to_string()))
    }

    fn remove_manifest(
        &mut self,
        _: Resource<PayloadHandle>,
        path: String,
    ) -> wasmtime::Result<bool> {
        self.charge("remove-manifest", 0)?;
        Ok(self.release.manifests.remove(&path).is_some())
    }

    fn rewrite_pullspec(
        &mut self,
        _: Resource<PayloadHandle>,
        old: String,
        new: String,
    ) -> wasmtime::Result<Result<Vec<String>, String>> {
        if self.read_only.is_some() {
            self.charge("rewrite-pullspec", 0)?;
        }
        let before = manifest_bytes(&self.release);
        let changed = self.release.rewrite_pullspec(&old, &new);
        // What the rewrite added counts as written.
        let grown = manifest_bytes(&self.release).saturating_sub(before);
        self.charge(
            "rewrite-pullspec",
            usize::try_from(grown).unwrap_or(usize::MAX),
        )?;
        Ok(changed.map_err(|e| e.to_string()))
    }

    fn digest(&mut self, _: Resource<PayloadHandle>) -> Result<String, String> {
        let digest = self.services()?.digest.clone();
        digest(&self.release)
    }

    fn attach(
        &mut self,
        _: Resource<PayloadHandle>,
        attachment: v0_2::Attachment,
    ) -> wasmtime::Result<()> {
        self.charge(
            "attach",
            attachment.kind.len() + attachment.media_type.len() + attachment.data.len(),
        )?;
        // `attach` has no error result: a stage attaching what compose would not publish is
        // stopped rather than having its attachment dropped silently.
        if let Err(reason) = check_attachment(&attachment) {
            return self.stop(Stop::Refused(reason));
        }
        self.release.attachments.push(Attachment {
            kind: attachment.kind,
            media_type: attachment.media_type,
            data: attachment.data,
        });
        Ok(())
    }

    fn attachments(&mut self, _: Resource<PayloadHandle>) -> Vec<v0_2::Attachment> {
        self.release
            .attachments
            .iter()
            .map(|a| v0_2::Attachment {
                kind: a.kind.clone(),
                media_type: a.media_type.clone(),
                data: a.data.clone(),
            })
            .collect()
    }

    fn drop(&mut self, handle: Resource<PayloadHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

// 0.1.0: every call is the same call of 0.2.0, its records converted (0.2.0 only added to
// 0.1.0, so each 0.1.0 function has its 0.2.0 twin).

fn image_to_old(image: v0_2::Image) -> v0_1::Image {
    v0_1::Image {
        name: image.name,
        pullspec: image.pullspec,
        annotations: image.annotations,
    }
}

fn attachment_to_old(a: v0_2::Attachment) -> v0_1::Attachment {
    v0_1::Attachment {
        kind: a.kind,
        media_type: a.media_type,
        data: a.data,
    }
}

impl v0_1::Host for StageState {}

impl v0_1::HostPayload for StageState {
    fn name(&mut self, h: Resource<PayloadHandle>) -> String {
        v0_2::HostPayload::name(self, h)
    }

    fn metadata(&mut self, h: Resource<PayloadHandle>) -> String {
        v0_2::HostPayload::metadata(self, h)
    }

    fn set_metadata(
        &mut self,
        h: Resource<PayloadHandle>,
        json: String,
    ) -> wasmtime::Result<Result<(), String>> {
        v0_2::HostPayload::set_metadata(self, h, json)
    }

    fn images(&mut self, h: Resource<PayloadHandle>) -> Vec<v0_1::Image> {
        v0_2::HostPayload::images(self, h)
            .into_iter()
            .map(image_to_old)
            .collect()
    }

    fn image(&mut self, h: Resource<PayloadHandle>, name: String) -> Option<v0_1::Image> {
        v0_2::HostPayload::image(self, h, name).map(image_to_old)
    }

    fn put_image(
        &mut self,
        h: Resource<PayloadHandle>,
        image: v0_1::Image,
    ) -> wasmtime::Result<Result<(), String>> {
        let image = v0_2::Image {
            name: image.name,
            pullspec: image.pullspec,
            annotations: image.annotations,
        };
        v0_2::HostPayload::put_image(self, h, image)
    }

    fn remove_image(&mut self, h: Resource<PayloadHandle>, name: String) -> wasmtime::Result<bool> {
        v0_2::HostPayload::remove_image(self, h, name)
    }

    fn manifests(&mut self, h: Resource<PayloadHandle>) -> Vec<String> {
        v0_2::HostPayload::manifests(self, h)
    }

    fn grep_manifests(&mut self, h: Resource<PayloadHandle>, needle: String) -> Vec<String> {
        v0_2::HostPayload::grep_manifests(self, h, needle)
    }

    fn read_manifest(&mut self, h: Resource<PayloadHandle>, path: String) -> Option<String> {
        v0_2::HostPayload::read_manifest(self, h, path)
    }

    fn write_manifest(
        &mut self,
        h: Resource<PayloadHandle>,
        path: String,
        content: String,
    ) -> wasmtime::Result<Result<(), String>> {
        v0_2::HostPayload::write_manifest(self, h, path, content)
    }

    fn remove_manifest(
        &mut self,
        h: Resource<PayloadHandle>,
        path: String,
    ) -> wasmtime::Result<bool> {
        v0_2::HostPayload::remove_manifest(self, h, path)
    }

    fn rewrite_pullspec(
        &mut self,
        h: Resource<PayloadHandle>,
        from: String,
        to: String,
    ) -> wasmtime::Result<Result<Vec<String>, String>> {
        v0_2::HostPayload::rewrite_pullspec(self, h, from, to)
    }

    fn digest(&mut self, h: Resource<PayloadHandle>) -> Result<String, String> {
        v0_2::HostPayload::digest(self, h)
    }

    fn attach(&mut self, h: Resource<PayloadHandle>, a: v0_1::Attachment) -> wasmtime::Result<()> {
        let a = v0_2::Attachment {
            kind: a.kind,
            media_type: a.media_type,
            data: a.data,
        };
        v0_2::HostPayload::attach(self, h, a)
    }

    fn attachments(&mut self, h: Resource<PayloadHandle>) -> Vec<v0_1::Attachment> {
        v0_2::HostPayload::attachments(self, h)
            .into_iter()
            .map(attachment_to_old)
            .collect()
    }

    fn drop(&mut self, h: Resource<PayloadHandle>) -> wasmtime::Result<()> {
        v0_2::HostPayload::drop(self, h)
    }
}

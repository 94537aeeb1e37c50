//! The imports of `okd:compose@0.1.0`, for components built against it: every call is the
//! same call of the newest version (`host.rs`), its records and enums converted. 0.2.0 only
//! added to 0.1.0, so each 0.1.0 function has its 0.2.0 twin.

use wasmtime::component::Resource;

use crate::bindings::v0_1::okd::compose as old;
use crate::bindings::v0_2::okd::compose0_2_0 as new;
use crate::host::{PayloadHandle, StageState};

impl old::log::Host for StageState {
    fn log(&mut self, level: old::log::Level, message: String) {
        let level = match level {
            old::log::Level::Trace => new::log::Level::Trace,
            old::log::Level::Debug => new::log::Level::Debug,
            old::log::Level::Info => new::log::Level::Info,
            old::log::Level::Warn => new::log::Level::Warn,
            old::log::Level::Error => new::log::Level::Error,
        };
        new::log::Host::log(self, level, message);
    }
}

impl old::registry::Host for StageState {
    fn resolve(&mut self, reference: String) -> Result<String, String> {
        new::registry::Host::resolve(self, reference)
    }

    fn image_config(&mut self, reference: String) -> Result<String, String> {
        new::registry::Host::image_config(self, reference)
    }
}

fn format(format: old::signer::SignatureFormat) -> new::signer::SignatureFormat {
    match format {
        old::signer::SignatureFormat::Openpgp => new::signer::SignatureFormat::Openpgp,
        old::signer::SignatureFormat::Cosign => new::signer::SignatureFormat::Cosign,
    }
}

impl old::signer::Host for StageState {
    fn sign(
        &mut self,
        key: String,
        signature: old::signer::SignatureFormat,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        new::signer::Host::sign(self, key, format(signature), data)
    }

    fn public_key(
        &mut self,
        key: String,
        signature: old::signer::SignatureFormat,
    ) -> Result<String, String> {
        new::signer::Host::public_key(self, key, format(signature))
    }
}

fn image_to_old(image: new::release::Image) -> old::release::Image {
    old::release::Image {
        name: image.name,
        pullspec: image.pullspec,
        annotations: image.annotations,
    }
}

fn attachment_to_old(a: new::release::Attachment) -> old::release::Attachment {
    old::release::Attachment {
        kind: a.kind,
        media_type: a.media_type,
        data: a.data,
    }
}

impl old::release::Host for StageState {}

impl old::release::HostPayload for StageState {
    fn name(&mut self, h: Resource<PayloadHandle>) -> String {
        new::release::HostPayload::name(self, h)
    }

    fn metadata(&mut self, h: Resource<PayloadHandle>) -> String {
        new::release::HostPayload::metadata(self, h)
    }

    fn set_metadata(
        &mut self,
        h: Resource<PayloadHandle>,
        json: String,
    ) -> wasmtime::Result<Result<(), String>> {
        new::release::HostPayload::set_metadata(self, h, json)
    }

    fn images(&mut self, h: Resource<PayloadHandle>) -> Vec<old::release::Image> {
        new::release::HostPayload::images(self, h)
            .into_iter()
            .map(image_to_old)
            .collect()
    }

    fn image(&mut self, h: Resource<PayloadHandle>, name: String) -> Option<old::release::Image> {
        new::release::HostPayload::image(self, h, name).map(image_to_old)
    }

    fn put_image(
        &mut self,
        h: Resource<PayloadHandle>,
        image: old::release::Image,
    ) -> wasmtime::Result<Result<(), String>> {
        let image = new::release::Image {
            name: image.name,
            pullspec: image.pullspec,
            annotations: image.annotations,
        };
        new::release::HostPayload::put_image(self, h, image)
    }

    fn remove_image(&mut self, h: Resource<PayloadHandle>, name: String) -> wasmtime::Result<bool> {
        new::release::HostPayload::remove_image(self, h, name)
    }

    fn manifests(&mut self, h: Resource<PayloadHandle>) -> Vec<String> {
        new::release::HostPayload::manifests(self, h)
    }

    fn grep_manifests(&mut self, h: Resource<PayloadHandle>, needle: String) -> Vec<String> {
        new::release::HostPayload::grep_manifests(self, h, needle)
    }

    fn read_manifest(&mut self, h: Resource<PayloadHandle>, path: String) -> Option<String> {
        new::release::HostPayload::read_manifest(self, h, path)
    }

    fn write_manifest(
        &mut self,
        h: Resource<PayloadHandle>,
        path: String,
        content: String,
    ) -> wasmtime::Result<Result<(), String>> {
        new::release::HostPayload::write_manifest(self, h, path, content)
    }

    fn remove_manifest(
        &mut self,
        h: Resource<PayloadHandle>,
        path: String,
    ) -> wasmtime::Result<bool> {
        new::release::HostPayload::remove_manifest(self, h, path)
    }

    fn rewrite_pullspec(
        &mut self,
        h: Resource<PayloadHandle>,
        from: String,
        to: String,
    ) -> wasmtime::Result<Result<Vec<String>, String>> {
        new::release::HostPayload::rewrite_pullspec(self, h, from, to)
    }

    fn digest(&mut self, h: Resource<PayloadHandle>) -> Result<String, String> {
        new::release::HostPayload::digest(self, h)
    }

    fn attach(
        &mut self,
        h: Resource<PayloadHandle>,
        a: old::release::Attachment,
    ) -> wasmtime::Result<()> {
        let a = new::release::Attachment {
            kind: a.kind,
            media_type: a.media_type,
            data: a.data,
        };
        new::release::HostPayload::attach(self, h, a)
    }

    fn attachments(&mut self, h: Resource<PayloadHandle>) -> Vec<old::release::Attachment> {
        new::release::HostPayload::attachments(self, h)
            .into_iter()
            .map(attachment_to_old)
            .collect()
    }

    fn drop(&mut self, h: Resource<PayloadHandle>) -> wasmtime::Result<()> {
        new::release::HostPayload::drop(self, h)
    }
}

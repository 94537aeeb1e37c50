//! Every registry a run reaches: one [`RemoteRegistry`] per host, made on first use, with the
//! credentials, TLS choice and progress they share.

use super::*;

/// A pool of registry clients, one per host, and the [`ImageSource`] reading every reference
/// from the registry it names.
pub struct RemoteRegistries {
    config: RemoteConfig,
    /// The clients reads go through, by host.
    clients: Mutex<BTreeMap<String, Arc<RemoteRegistry>>>,
    /// The clients pushes go through, by host: always with the credentials of the config.
    pushers: Mutex<BTreeMap<String, Arc<RemoteRegistry>>>,
    /// Per-host TLS choices made by streams (`https://…`, `http://…`), over the config's.
    tls: Mutex<BTreeMap<String, bool>>,
    /// When set, the only hosts reads send credentials to (the registries a stream names);
    /// every other host is read anonymously.
    credential_hosts: Mutex<Option<BTreeSet<String>>>,
    /// Where reads ahead and pushes report how far they are, if anywhere.
    progress: Mutex<Option<Arc<dyn Progress>>>,
}

impl std::fmt::Debug for RemoteRegistries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRegistries")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RemoteRegistries {
    /// An empty pool; clients are made on first use.
    pub fn new(config: RemoteConfig) -> RemoteRegistries {
        RemoteRegistries {
            config,
            clients: Mutex::new(BTreeMap::new()),
            pushers: Mutex::new(BTreeMap::new()),
            tls: Mutex::new(BTreeMap::new()),
            credential_hosts: Mutex::new(None),
            progress: Mutex::new(None),
        }
    }

    /// Reports the progress of reads ahead ([`ImageSource::prefetch`]) and pushes to
    /// `progress` from now on.
    pub fn set_progress(&self, progress: Arc<dyn Progress>) {
        if let Ok(mut slot) = self.progress.lock() {
            *slot = Some(progress);
        }
    }

    /// Where progress is reported, if anywhere.
    pub(crate) fn progress(&self) -> Option<Arc<dyn Progress>> {
        self.progress.lock().ok().and_then(|p| p.clone())
    }

    /// Sends credentials, on reads, only to `hosts` (`host` or `host:port`: the registries a
    /// stream names in `from`, `to`, `[registries]` and its plugins) and reads every other
    /// registry anonymously: a stage granted `["*"]` that resolves a reference of its own
    /// choosing never makes compose hand the user's credentials to that host. Calling it again
    /// adds hosts. Pushes ([`RemoteRegistries::pusher`]) go only to targets the user or the
    /// stream named, and always carry credentials.
    pub fn restrict_credentials<I, S>(&self, hosts: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let poisoned = || Error::Client("the client pool is poisoned".into());
        let mut allowed = self.credential_hosts.lock().map_err(|_| poisoned())?;
        let set = allowed.get_or_insert_with(BTreeSet::new);
        set.extend(hosts.into_iter().map(Into::into));
        // Clients made before with other credentials than they would now get: make them again.
        let mut clients = self.clients.lock().map_err(|_| poisoned())?;
        clients.retain(|host, client| client.with_credentials == set.contains(host));
        Ok(())
    }

    /// Whether reads from `host` carry credentials.
    pub fn sends_credentials_to(&self, host: &str) -> bool {
        match self.credential_hosts.lock() {
            Ok(allowed) => allowed.as_ref().is_none_or(|set| set.contains(host)),
            Err(_) => false,
        }
    }

    /// Uses TLS for `host` (`true`) or plain HTTP (`false`, refused unless `host` is on
    /// loopback or named insecure), whatever the default for it would be.
    pub fn set_tls(&self, host: &str, tls: bool) -> Result<()> {
        if !tls && !self.config.allows_plain_http(host) {
            return Err(Error::PlainHttpRefused(host.to_string()));
        }
        let poisoned = || Error::Client("the client pool is poisoned".into());
        self.tls
            .lock()
            .map_err(|_| poisoned())?
            .insert(host.to_string(), tls);
        let mut clients = self.clients.lock().map_err(|_| poisoned())?;
        if clients.get(host).is_some_and(|c| c.plain_http == tls) {
            clients.remove(host);
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// The client for `host` (`quay.io`, `127.0.0.1:5000`).
    pub fn registry(&self, host: &str) -> Result<Arc<RemoteRegistry>> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| Error::Client("the client pool is poisoned".into()))?;
        if let Some(client) = clients.get(host) {
            return Ok(client.clone());
        }
        let plain_http = self.plain_http_for(host);
        let with_credentials = self.sends_credentials_to(host);
        let mut client = RemoteRegistry::with_scheme(host, &self.config, plain_http)?;
        if !with_credentials {
            client.auth = Arc::new(AuthStore::anonymous());
            client.with_credentials = false;
        }
        let client = Arc::new(client);
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }

    /// The client pushes to `host` go through: with the configured credentials whatever
    /// [`RemoteRegistries::restrict_credentials`] says, since a push target is always named by
    /// the user or the stream, never by a stage.
    pub fn pusher(&self, host: &str) -> Result<Arc<RemoteRegistry>> {
        let mut pushers = self
            .pushers
            .lock()
            .map_err(|_| Error::Client("the client pool is poisoned".into()))?;
        let plain_http = self.plain_http_for(host);
        if let Some(client) = pushers.get(host).filter(|c| c.plain_http == plain_http) {
            return Ok(client.clone());
        }
        let client = Arc::new(RemoteRegistry::with_scheme(host, &self.config, plain_http)?);
        pushers.insert(host.to_string(), client.clone());
        Ok(client)
    }

    fn plain_http_for(&self, host: &str) -> bool {
        match self.tls.lock().ok().and_then(|t| t.get(host).copied()) {
            Some(tls) => !tls,
            None => self.config.plain_http(host),
        }
    }
}

impl ImageSource for RemoteRegistries {
    fn location(&self) -> String {
        "the registries the references name".to_string()
    }

    fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        self.registry(&reference.registry)?.resolve(reference)
    }

    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        self.registry(&reference.registry)?.blob(reference, digest)
    }

    fn prefetch(&self, references: &[Reference]) {
        self.read_ahead(references);
    }

    /// At hand in the client of the reference's registry, if there is one yet.
    fn at_hand(&self, reference: &Reference) -> bool {
        self.clients
            .lock()
            .ok()
            .and_then(|clients| clients.get(&reference.registry).cloned())
            .is_some_and(|client| client.at_hand(reference))
    }
}

//! OpenTelemetry export of the request and event spans (issue 15), on when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set and only then. Off, no layer is installed at all: the DEBUG spans of
//! requests and events stay disabled by the log filter and cost what they
//! did before (a level check).
//!
//! On, spans go over OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL`:
//! `http/protobuf`, the default, or `http/json`) from a batch processor on
//! its own thread, so the runtime thread never waits for the collector. The
//! SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_*`). Spans carry what the log spans carry — method and path,
//! event name, user id, message id — never content, queries or tokens.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The exporter, to flush what is buffered when the server stops.
pub struct Export(SdkTracerProvider);

impl Export {
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("OpenTelemetry: the last spans were not sent: {e}");
        }
    }
}

fn configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// The layer that exports Chatr's spans, when an endpoint is configured.
/// An exporter that cannot be built is reported and left out: tracing is
/// never a reason not to serve.
pub fn layer<S>() -> Option<(impl Layer<S>, Export)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !configured() {
        return None;
    }
    crate::push::install_tls_provider();
    let exporter = match SpanExporter::builder().with_http().build() {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("OpenTelemetry export is off: {e}");
            return None;
        }
    };
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("chatr");
    }
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("chatr");
    // Chatr's own spans (one per request, one per socket event) and what is
    // logged inside them; not the dependencies' internals.
    let spans = Targets::new()
        .with_target("chatr", tracing::Level::DEBUG)
        .with_target("chatr_sio", tracing::Level::INFO);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(spans);
    Some((layer, Export(provider)))
}

# The service image: one image, the role chosen by the command (api, worker, projector).
FROM python:3.11-slim
WORKDIR /app
COPY setup.py README.md ./
COPY api api
COPY schemas schemas
COPY commands commands
COPY workers workers
COPY projections projections
COPY zun_cqrs zun_cqrs
RUN pip install --no-cache-dir .
ENV ZUN_BIND=0.0.0.0:9517
ENTRYPOINT ["zun-cqrs"]
CMD ["api"]

from setuptools import find_packages, setup

setup(
    name="zun-cqrs",
    version="0.1.0",
    description="A container service with OpenStack Zun's Containers API, event-sourced over Kafka",
    python_requires=">=3.11",
    packages=find_packages(include=["api*", "schemas*", "commands*", "workers*",
                                    "projections*", "zun_cqrs*"]),
    install_requires=[
        "flask>=3.1,<4",
        "flask-sock>=0.7,<1",
        "eventsourcing[postgres]==9.5.6",
        "psycopg[binary]>=3.2",
        "kafka-python==3.0.12",
        "docker==7.2.0",
        "marshmallow>=4.4,<5",
        "psycopg2-binary>=2.9",
        "gunicorn==27.0.1",
        "apispec[marshmallow]>=6.10",
        "pyyaml>=6",
    ],
    extras_require={
        "test": ["pytest>=9", "pytest-timeout>=2.3", "requests>=2.31",
                 "websocket-client>=1.8", "python-zunclient>=5.5",
                 "python-openstackclient>=7", "schemathesis>=4.32,<5"],
    },
    entry_points={"console_scripts": ["zun-cqrs = zun_cqrs.cli:main"]},
)

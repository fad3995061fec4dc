#!/bin/bash
echo "placeholder"; exit 77

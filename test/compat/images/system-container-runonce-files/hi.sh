#!/bin/sh

echo "HI $RECEIVER from $NAME"

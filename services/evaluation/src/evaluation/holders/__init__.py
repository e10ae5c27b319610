"""What holders and the public see: verification, a citizen's own certificates, an enterprise's
counts by level."""
